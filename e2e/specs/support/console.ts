// Helpers for looking at console pages the way an operator's browser does:
// which pages there are, what went wrong while one loaded, what axe-core
// finds, and screenshots at desktop and phone width in both colour schemes.
import * as path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page } from '@playwright/test';
import { env } from './env';

export interface ConsolePage {
  /** A short name, used in test steps and screenshot file names. */
  name: string;
  /** Its path on the server. */
  path: string;
}

export const SCHEMES = ['light', 'dark'] as const;
export type Scheme = (typeof SCHEMES)[number];
export const WIDTHS = [
  { width: 1280, height: 800 },
  { width: 375, height: 812 },
] as const;

function slug(text: string): string {
  return text.trim().toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** The first link on `listPath` whose path matches `pattern`. */
async function firstLink(page: Page, listPath: string, pattern: RegExp): Promise<string> {
  await page.goto(listPath);
  const hrefs = await page.locator('main a[href]').evaluateAll((links) =>
    links.map((a) => a.getAttribute('href') ?? ''),
  );
  const found = hrefs.find((h) => pattern.test(h));
  if (!found) throw new Error(`no link matching ${pattern} on ${listPath} (links: ${hrefs.join(' ')})`);
  return found;
}

/**
 * Every page a signed-in admin can reach: the main navigation, then the
 * detail pages it leads to (a host, a job, a snapshot and the comparison
 * form) and the ones linked from inside pages (adding a host, a schedule). A known page that cannot be found is an error: the
 * fleet project should have made a host and a job.
 */
export async function discoverPages(page: Page): Promise<ConsolePage[]> {
  await page.goto('/');
  const nav = await page.locator('nav[aria-label="Main"] a[href]').evaluateAll((links) =>
    links.map((a) => ({ text: a.textContent ?? '', href: a.getAttribute('href') ?? '' })),
  );
  expect(nav.length, 'the main navigation has links').toBeGreaterThan(3);
  const pages: ConsolePage[] = nav
    .filter((l) => l.href.startsWith('/'))
    .map((l) => ({ name: slug(l.text), path: l.href }));
  pages.push({ name: 'host', path: await firstLink(page, '/hosts', /^\/hosts\/\d+$/) });
  pages.push({ name: 'add-host', path: '/hosts/add' });
  pages.push({ name: 'job', path: await firstLink(page, '/jobs', /^\/jobs\/\d+$/) });
  // A snapshot's page (its tree is listed on the host as it opens) and the
  // comparison form it links to; the backups before made the snapshots.
  const snapshot = await firstLink(page, '/snapshots', /^\/snapshots\/\d+\/[0-9a-f]+$/);
  pages.push({ name: 'snapshot', path: snapshot });
  pages.push({ name: 'compare', path: await firstLink(page, snapshot, /^\/snapshots\/diff\?/) });
  pages.push({ name: 'new-schedule', path: '/schedules/new' });
  pages.push({ name: 'alert-rules', path: '/alerts/rules' });
  pages.push({ name: 'new-channel', path: '/notifications/new' });
  const seen = new Set<string>();
  return pages.filter((p) => !seen.has(p.path) && seen.add(p.path));
}

/**
 * Records what a user would see go wrong on a page: console errors,
 * uncaught exceptions, requests that failed, and answers of 400 or more.
 * Call before navigating; `stop()` returns the problems and detaches.
 */
export function watchProblems(page: Page): { stop: () => string[] } {
  const problems: string[] = [];
  const onConsole = (msg: import('@playwright/test').ConsoleMessage) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()} (${msg.location().url})`);
  };
  const onPageError = (err: Error) => problems.push(`uncaught: ${err.message}`);
  const onRequestFailed = (req: import('@playwright/test').Request) => {
    const why = req.failure()?.errorText ?? '?';
    // Leaving a page ends its live stream: the browser aborts it, which is
    // no failure. A stream refused or broken shows as an HTTP error or
    // another reason, and still counts.
    if (req.resourceType() === 'eventsource' && why === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${req.method()} ${req.url()}: ${why}`);
  };
  const onResponse = (res: import('@playwright/test').Response) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
  };
  page.on('console', onConsole);
  page.on('pageerror', onPageError);
  page.on('requestfailed', onRequestFailed);
  page.on('response', onResponse);
  return {
    stop: () => {
      page.off('console', onConsole);
      page.off('pageerror', onPageError);
      page.off('requestfailed', onRequestFailed);
      page.off('response', onResponse);
      return problems;
    },
  };
}

/** Loads `pagePath` and returns every problem seen while it loaded. */
export async function loadCleanly(page: Page, pagePath: string): Promise<string[]> {
  const watch = watchProblems(page);
  let response;
  try {
    response = await page.goto(pagePath, { waitUntil: 'load' });
    // The page script runs on DOMContentLoaded: what it throws is in by now.
    await expect(page.locator('main')).toBeVisible();
  } catch (err) {
    watch.stop();
    throw err;
  }
  const problems = watch.stop();
  if (!response) problems.push(`no response for ${pagePath}`);
  return problems;
}

/** The serious and critical violations axe-core finds on the page as it is. */
export async function axeViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => {
      const nodes = v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary ?? ''}`);
      return `${v.id} (${v.impact}): ${v.help}\n    ${nodes.join('\n    ')}`;
    });
}

/** Switches the page to a colour scheme (prefers-color-scheme, as the system sets it). */
export async function useScheme(page: Page, scheme: Scheme): Promise<void> {
  await page.emulateMedia({ colorScheme: scheme });
}

/** e2e/artifacts/screenshots/<name>-<width>-<scheme>.png */
export function screenshotPath(name: string, width: number, scheme: Scheme): string {
  return path.join(env.artifacts, 'screenshots', `${name}-${width}-${scheme}.png`);
}

/**
 * Full-page screenshots of the current page at every width and scheme; it
 * returns the widths at which the page is wider than the window (content a
 * phone user would have to scroll sideways to see).
 */
export async function screenshotAll(page: Page, name: string): Promise<string[]> {
  const overflows: string[] = [];
  for (const size of WIDTHS) {
    await page.setViewportSize(size);
    for (const scheme of SCHEMES) {
      await useScheme(page, scheme);
      await page.screenshot({ path: screenshotPath(name, size.width, scheme), fullPage: true, animations: 'disabled' });
    }
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    if (wide > size.width) overflows.push(`${name} is ${wide}px wide in a ${size.width}px window`);
  }
  await page.setViewportSize(WIDTHS[0]);
  await useScheme(page, 'light');
  return overflows;
}

/** Spends the one-time setup link on the first admin, who is then signed in. */
export async function createFirstAdmin(page: Page): Promise<void> {
  await page.goto(env.setupUrl);
  await page.getByLabel('Username').fill(env.adminUser);
  await page.getByLabel(/^Password \(at least/).fill(env.adminPassword);
  await page.getByLabel('Password again').fill(env.adminPassword);
  await page.getByRole('button', { name: 'Create admin and sign in' }).click();
  await expect(page.locator('nav .who')).toContainText(env.adminUser);
}
