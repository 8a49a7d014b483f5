// What e2e/run hands the specs, read in one place. Every value is required:
// a spec run without the runner fails here with a clear message instead of
// somewhere odd later.
import * as path from 'node:path';

function need(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set: run the browser tests through e2e/run, which starts the fleet and sets it`);
  }
  return value;
}

/** Where specs keep what later projects reuse (storage state, API token). */
export const STATE_DIR = need('CAIRN_E2E_STATE');
/** The first admin's signed-in browser state, written by first-run. */
export const ADMIN_STATE = path.join(STATE_DIR, 'admin.json');
/** An admin-scoped API token for `cairn ctl`, written by first-run. */
export const ADMIN_TOKEN_FILE = path.join(STATE_DIR, 'admin.token');

export const env = {
  /** The server, e.g. http://127.0.0.1:41234 (also Playwright's baseURL). */
  baseUrl: need('CAIRN_E2E_BASE_URL'),
  /** The one-time setup link the server printed in its log. */
  setupUrl: need('CAIRN_E2E_SETUP_URL'),
  /** The first admin the first-run spec creates. */
  adminUser: need('CAIRN_E2E_ADMIN_USER'),
  adminPassword: need('CAIRN_E2E_ADMIN_PASSWORD'),
  /** What the agent printed: its identity fingerprint and the host id the server gave it. */
  agentFingerprint: need('CAIRN_E2E_AGENT_FINGERPRINT'),
  agentHostId: Number(need('CAIRN_E2E_AGENT_HOST_ID')),
  agentLog: need('CAIRN_E2E_AGENT_LOG'),
  serverLog: need('CAIRN_E2E_SERVER_LOG'),
  /** The restic REST server: `rest:http://127.0.0.1:port/`, and its htpasswd user. */
  restUrl: need('CAIRN_E2E_REST_URL'),
  restUser: need('CAIRN_E2E_REST_USER'),
  restPassword: need('CAIRN_E2E_REST_PASSWORD'),
  /** The cairn binary the fleet runs (for `cairn ctl` setup steps). */
  cairn: need('CAIRN_E2E_CAIRN'),
  /** Directories: the server's data, the agent's state, where restores may write, scratch space. */
  serverData: need('CAIRN_E2E_SERVER_DATA'),
  agentState: need('CAIRN_E2E_AGENT_STATE'),
  restoreRoot: need('CAIRN_E2E_RESTORE_ROOT'),
  scratch: need('CAIRN_E2E_SCRATCH'),
  artifacts: need('CAIRN_E2E_ARTIFACTS'),
  /** `netns` (the agent in a namespace of its own, its link cuttable) or `loopback`. */
  network: need('CAIRN_E2E_NETWORK'),
  /** With `netns`: the namespace and the agent's end of the veth pair. */
  netns: process.env.CAIRN_E2E_NETNS ?? '',
  agentLink: process.env.CAIRN_E2E_AGENT_LINK ?? '',
};
