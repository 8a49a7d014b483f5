// Setup steps a spec takes through the API, as a script would: `cairn ctl`
// with the admin token that first-run made in the console. The console's own
// forms are what the specs test; this is only for state they start from.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ADMIN_TOKEN_FILE, env } from './env';

const run = promisify(execFile);

/** Runs `cairn ctl ARGS` against the fleet's server; its stdout, or a clear error. */
export async function ctl(args: string[], timeoutMs = 120_000): Promise<string> {
  try {
    const { stdout } = await run(env.cairn, ['ctl', '--server', env.baseUrl, ...args], {
      // The token travels in a file named in the environment, never in argv.
      // The server is this machine's own (on a veth address when the agent
      // has a namespace): plaintext to it is the test fleet's, not a leak.
      env: { ...process.env, CAIRN_TOKEN_FILE: ADMIN_TOKEN_FILE, CAIRN_TOKEN: '', CAIRN_ALLOW_PLAINTEXT: 'true' },
      timeout: timeoutMs,
    });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`cairn ctl ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** Writes a secret where only this user can read it, for a `--…-file` flag. */
export function secretFile(name: string, content: string): string {
  const file = path.join(env.scratch, 'secrets', name);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, content, { mode: 0o600 });
  return file;
}

export const REST_REPOSITORY = 'e2e-rest';

/** The REST server's URL with the htpasswd user in it, as restic takes it. */
export function restUrlWithCredentials(): string {
  const url = new URL(env.restUrl.replace(/^rest:/, ''));
  url.username = env.restUser;
  url.password = env.restPassword;
  return `rest:${url.toString()}`;
}

/**
 * The repository on the REST server, assigned to `hostId` and initialised
 * (an init job through the API); made on the first call, found after.
 */
export async function ensureRestRepository(hostId: number): Promise<number> {
  const listed = await ctl(['repos', 'list']);
  const row = listed.split('\n').find((l) => l.split(/\s+/)[1] === REST_REPOSITORY);
  if (row) return Number(row.split(/\s+/)[0]);

  const created = await ctl([
    'repos', 'create', '--name', REST_REPOSITORY,
    '--url-file', secretFile('rest-url', restUrlWithCredentials()),
    '--password-file', secretFile('rest-repo-password', `repo-${env.restPassword}`),
  ]);
  const id = Number(/created repository (\d+)/.exec(created)?.[1]);
  if (!Number.isInteger(id)) throw new Error(`no repository id in: ${created}`);
  await ctl(['repos', 'assign', String(id), '--host', String(hostId)]);
  // --wait: exits 0 only once the init job succeeded.
  await ctl(['init', '--host', String(hostId), '--repo', String(id), '--wait'], 180_000);
  return id;
}
