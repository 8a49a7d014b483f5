// Stored XSS, checked in the real browser. Markup an attacker controls is
// planted everywhere Cairn keeps text that comes from outside:
//   - a host's name: an agent whose kernel hostname (set in a UTS namespace
//     of its own) is an <img onerror>;
//   - file names in a snapshot, one of them built to break out of an HTML
//     attribute;
//   - a snapshot tag;
//   - a job's log lines and error: a backup of a path named as markup;
//   - audit actors: a sign-in attempt with markup as the username, and the
//     agent above (its hostname is its actor name).
// Then every page that shows one is opened. Each payload must read as text,
// no element of it may reach the DOM, no handler may run, and the browser
// must report no Content-Security-Policy violation (which would mean markup
// got in and only the policy stopped it).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { ctl, ensureRestRepository } from '../support/cairn';
import { env } from '../support/env';

test.describe.configure({ mode: 'serial', timeout: 360_000 });

/** Markup that calls `__xss(n)` if it ever becomes an element. */
const img = (n: number) => `<img src=x onerror=__xss(${n})>`;
const HOSTNAME = img(1);
const USERNAME = `<svg onload=__xss(2)>`;
const FILE = `${img(3)}.txt`;
const ATTRIBUTE_BREAK = `"><svg onload=__xss(4)>`;
const TAG = img(5);
const MISSING = img(6);

const source = path.join(env.scratch, 'xss-src');
const agentState = path.join(env.scratch, 'xss-agent');
let agent: ChildProcess | undefined;
let hostileHost = 0;
let failedJob = 0;

/** The job id in `cairn ctl`'s output (or its error). */
function jobId(text: string): number {
  const id = Number(/job (\d+) /.exec(text)?.[1]);
  if (!Number.isInteger(id) || id <= 0) throw new Error(`no job id in: ${text}`);
  return id;
}

/** Starts an agent whose hostname is `HOSTNAME`, approves it; its host id. */
async function hostileAgent(): Promise<number> {
  fs.mkdirSync(agentState, { recursive: true, mode: 0o700 });
  const log = fs.openSync(path.join(env.artifacts, 'logs', 'xss-agent.log'), 'a');
  agent = spawn(
    'unshare',
    [
      '--uts', 'sh', '-c', 'printf %s "$1" > /proc/sys/kernel/hostname && shift && exec "$@"', 'sh', HOSTNAME,
      env.cairn, 'agent', '--server', env.baseUrl, '--allow-plaintext', '--state-dir', agentState,
    ],
    { stdio: ['ignore', log, log] },
  );
  const row = async () => (await ctl(['hosts', 'list'])).split('\n').find((l) => l.includes(HOSTNAME));
  await expect
    .poll(row, { message: `the agent named ${HOSTNAME} announces itself`, timeout: 120_000 })
    .toBeDefined();
  const id = Number((await row())?.trim().split(/\s+/)[0]);
  await ctl(['hosts', 'approve', String(id)]);
  return id;
}

test.beforeAll(async ({ browser }) => {
  // A sign-in attempt with markup for a username, from a browser signed out.
  const context = await browser.newContext({ storageState: undefined });
  const login = await context.newPage();
  await login.goto('/login');
  await login.getByLabel('Username').fill(USERNAME);
  await login.getByLabel('Password').fill('not the password');
  await login.getByRole('button', { name: /sign in/i }).click();
  await expect(login.getByText(/wrong username or password/i)).toBeVisible();
  await context.close();

  hostileHost = await hostileAgent();

  const repository = await ensureRestRepository(env.agentHostId);
  fs.rmSync(source, { recursive: true, force: true });
  fs.mkdirSync(source, { recursive: true });
  fs.writeFileSync(path.join(source, FILE), 'a file named as markup\n');
  fs.writeFileSync(path.join(source, ATTRIBUTE_BREAK), 'a name that closes an attribute\n');
  const host = ['--host', String(env.agentHostId), '--repo', String(repository)];
  await ctl(['backup', ...host, '--path', source, '--tag', TAG, '--wait'], 240_000);
  try {
    await ctl(['backup', ...host, '--path', path.join(env.scratch, MISSING), '--wait'], 240_000);
    throw new Error('a backup of a missing path succeeded');
  } catch (err) {
    failedJob = jobId(String(err));
  }
});

test.afterAll(() => {
  agent?.kill('SIGTERM');
});

test.beforeEach(async ({ page }) => {
  await page.addInitScript(() => {
    const w = window as unknown as { __xss: (n: number) => void; __hits: string[] };
    w.__hits = [];
    w.__xss = (n: number) => w.__hits.push(`handler ${n} ran`);
    document.addEventListener('securitypolicyviolation', (e) =>
      w.__hits.push(`CSP violation: ${e.violatedDirective} ${e.blockedURI} ${e.sample}`),
    );
  });
  page.on('dialog', (d) => {
    throw new Error(`a dialog opened: ${d.message()}`);
  });
});

/** What got through on the page as it stands: handlers run, CSP reports, injected elements. */
async function breaches(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const w = window as unknown as { __hits: string[] };
    const found = [...w.__hits];
    for (const el of Array.from(document.querySelectorAll('img[src="x"], svg[onload], [onerror], [onload]'))) {
      found.push(`an injected element: ${el.outerHTML.slice(0, 120)}`);
    }
    return found;
  });
}

/** Opens `url`, waits for every text in `shown` to read as text, and checks nothing got through. */
async function visit(page: Page, url: string, shown: string[]): Promise<void> {
  await page.goto(url);
  for (const text of shown) {
    await expect(page.locator('main'), `${url} shows ${text} as text`).toContainText(text);
  }
  expect(await breaches(page), `on ${url}`).toEqual([]);
}

test('a hostname made of markup reads as text on the host list, the host page and the dashboard', async ({ page }) => {
  await visit(page, '/hosts', [HOSTNAME]);
  await visit(page, `/hosts/${hostileHost}`, [HOSTNAME]);
  await visit(page, '/', []);
});

test('a path made of markup reads as text in the job list, the job page and its log', async ({ page }) => {
  await visit(page, '/jobs', []);
  await visit(page, `/jobs/${failedJob}`, [MISSING]);
  // restic named the path in its own output: a log line, not only the error.
  await expect(page.locator('#job-log')).toContainText(MISSING);
  expect(await breaches(page)).toEqual([]);
  await visit(page, '/alerts', []);
});

test('a tag made of markup reads as text on the snapshot list', async ({ page }) => {
  await visit(page, '/snapshots', [TAG]);
});

test('file names made of markup read as text in the snapshot tree, attributes intact', async ({ page }) => {
  await page.goto('/snapshots');
  const row = page.locator('main tr', { hasText: TAG }).first();
  await row.locator('a[href^="/snapshots/"]').first().click();
  const parts = source.split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const folder = '/' + parts.slice(0, i + 1).join('/');
    const toggle = page.locator(`#snapshot-tree button.tree-toggle[data-path="${folder}"]`);
    await expect(toggle, `the tree shows ${folder}`).toBeVisible({ timeout: 90_000 });
    await toggle.click();
    await expect(toggle).toHaveAttribute('aria-expanded', 'true', { timeout: 90_000 });
  }
  const tree = page.locator('#snapshot-tree');
  await expect(tree).toContainText(FILE);
  await expect(tree).toContainText(ATTRIBUTE_BREAK);
  // The name that closes an attribute is still one attribute's whole value:
  // the restore checkbox's, and its label's.
  const values = await tree
    .locator('input[name="select"]')
    .evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value));
  expect(values).toContain(path.join(source, ATTRIBUTE_BREAK));
  expect(values).toContain(path.join(source, FILE));
  expect(await breaches(page)).toEqual([]);
});

test('audit actors made of markup (a sign-in attempt, an agent) read as text in the audit log', async ({ page }) => {
  await visit(page, '/audit', [USERNAME, HOSTNAME]);
});
