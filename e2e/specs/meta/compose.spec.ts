// e2e/compose.e2e.yml cannot run here (no Docker engine), so this keeps it
// honest against the runner that does: the same services, the same server
// and agent flags, the same ports, and every CAIRN_E2E_* variable the specs
// need. The compose file is read as the plain subset of YAML it is written
// in (two-space indentation, `- KEY=value` environment lists).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, test } from '@playwright/test';

const E2E = path.join(__dirname, '..', '..');
const read = (file: string) => fs.readFileSync(path.join(E2E, file), 'utf8');

/** The compose file's services, each as its block of text. */
function services(): Map<string, string> {
  const text = read('compose.e2e.yml');
  const body = text.split(/^services:$/m)[1].split(/^\S/m)[0];
  const out = new Map<string, string>();
  let name = '';
  for (const line of body.split('\n')) {
    const head = /^ {2}([a-z0-9-]+):$/.exec(line);
    if (head) name = head[1];
    else if (name) out.set(name, `${out.get(name) ?? ''}${line}\n`);
  }
  return out;
}

/** A bash array's words, as fleet.sh defines it (`NAME=(… )`, maybe over lines). */
function bashArray(text: string, name: string): string[] {
  const m = new RegExp(`^${name}=\\(([^)]*)\\)`, 'm').exec(text);
  if (!m) throw new Error(`no ${name}=(…) in fleet.sh`);
  return m[1].split(/\s+/).filter(Boolean);
}

const words = (block: string) => block.replace(/\s+/g, ' ');

test('the compose fleet has the runner\'s services, flags, ports and variables', () => {
  const compose = services();
  const fleet = read('lib/fleet.sh');
  const run = read('run');

  // Services: the three the runner spawns, and the spec runner.
  const spawned = [...(fleet + run).matchAll(/spawn "([^"]+)"/g)].map((m) => m[1]).sort();
  expect(spawned).toEqual(['cairn agent', 'cairn server', 'rest server']);
  expect([...compose.keys()].sort()).toEqual(['agent', 'e2e', 'rest-server', 'server']);

  // Flags: the runner's arrays, word for word, in the compose commands.
  const server = words(compose.get('server') ?? '');
  const agent = words(compose.get('agent') ?? '');
  expect(server, 'the server flags of fleet.sh').toContain(bashArray(fleet, 'E2E_SERVER_FLAGS').join(' '));
  expect(agent, 'the agent flags of fleet.sh').toContain(bashArray(fleet, 'E2E_AGENT_FLAGS').join(' '));
  for (const flag of ['--listen', '--data-dir', '--public-url']) expect(server).toContain(flag);
  for (const flag of ['--server', '--state-dir', '--restore-root']) expect(agent).toContain(flag);

  // Variables: every one the specs need is given, or read from the logs by
  // the runner's own functions (await_server, await_agent), or made by specs.sh.
  const needed = [...read('specs/support/env.ts').matchAll(/need\('(CAIRN_E2E_[A-Z_]+)'\)/g)].map((m) => m[1]);
  const env = new Map(
    [...(compose.get('e2e') ?? '').matchAll(/^\s+- (CAIRN_E2E_[A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]] as const),
  );
  const awaits = [...fleet.matchAll(/^await_(?:server|agent)\(\) \{[\s\S]*?^\}/gm)].map((m) => m[0]).join('\n');
  expect(awaits, 'fleet.sh has await_server and await_agent').toContain('CAIRN_E2E_SETUP_URL');
  const discovered = [...(awaits + read('docker/specs.sh')).matchAll(/(CAIRN_E2E_[A-Z_]+)=/g)].map((m) => m[1]);
  const given = new Set([...env.keys(), ...discovered]);
  expect(needed.filter((n) => !given.has(n)), 'variables the specs need that compose never sets').toEqual([]);

  // Ports: where each service listens is where the others are told to go.
  const port = (text: string, re: RegExp) => re.exec(text)?.[1];
  const serverPort = port(server, /--listen 0\.0\.0\.0:(\d+)/);
  expect(serverPort).toBeDefined();
  expect(port(env.get('CAIRN_E2E_BASE_URL') ?? '', /:(\d+)$/)).toBe(serverPort);
  expect(port(agent, /--server http:\/\/server:(\d+)/)).toBe(serverPort);
  const restPort = port(read('docker/rest-server.sh'), /--addr 0\.0\.0\.0:(\d+)/);
  expect(restPort).toBeDefined();
  expect(port(env.get('CAIRN_E2E_REST_URL') ?? '', /:(\d+)\/$/)).toBe(restPort);
  // The REST server's user and password are the ones the specs are given.
  const rest = compose.get('rest-server') ?? '';
  for (const key of ['CAIRN_E2E_REST_USER', 'CAIRN_E2E_REST_PASSWORD']) {
    expect(rest, `${key} in rest-server`).toContain(`${key}=${env.get(key)}`);
  }
});
