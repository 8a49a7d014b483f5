// Following a job on its page the way an operator watches it: what the live
// view showed over time, recorded in the page itself so that nothing between
// two polls is missed.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, test, type Page } from '@playwright/test';

/** One moment of a job page's live view. */
export interface Sample {
  status: string;
  percent: number;
  files: string;
  bytes: string;
}

declare global {
  interface Window {
    __cairnJobSamples?: Sample[];
  }
}

/**
 * Installs, before any page script runs, an observer that records the job
 * page's status, progress bar, files and bytes each time one changes.
 */
export async function recordJobPages(page: Page): Promise<void> {
  await page.addInitScript(() => {
    document.addEventListener('DOMContentLoaded', () => {
      const bar = document.getElementById('job-progress') as HTMLProgressElement | null;
      if (!bar) return;
      const samples: Sample[] = [];
      window.__cairnJobSamples = samples;
      const text = (id: string) => document.getElementById(id)?.textContent?.trim() ?? '';
      const record = () =>
        samples.push({ status: text('job-status'), percent: bar.value, files: text('job-files'), bytes: text('job-bytes') });
      record();
      const observer = new MutationObserver(record);
      // Setting progress.value sets its value attribute, so attributes show it.
      observer.observe(bar, { attributes: true });
      for (const id of ['job-status', 'job-files', 'job-bytes']) {
        const el = document.getElementById(id);
        if (el) observer.observe(el, { childList: true, characterData: true, subtree: true });
      }
    });
  });
}

/**
 * On a job page opened after `recordJobPages`: waits, without reloading,
 * until `#job-status` says succeeded, and checks the progress moved while the
 * job ran (the bar above 0, or the files or bytes done changing, before the
 * end). Returns what was seen.
 */
export async function followToSuccess(page: Page, timeoutMs: number): Promise<Sample[]> {
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  // Gone if the page reloads: the end must arrive live.
  await page.evaluate(() => ((window as unknown as { __cairnSameDocument: boolean }).__cairnSameDocument = true));
  await expect(page.locator('#job-status')).toHaveText('succeeded', { timeout: timeoutMs });
  const same = await page.evaluate(() => (window as unknown as { __cairnSameDocument?: boolean }).__cairnSameDocument);
  expect(same, 'succeeded arrived without a reload').toBe(true);
  const samples = (await page.evaluate(() => window.__cairnJobSamples)) ?? [];
  await test.info().attach('live samples', { body: JSON.stringify(samples, null, 1), contentType: 'application/json' });
  const running = samples.filter((s) => s.status !== 'succeeded');
  const moved =
    running.some((s) => s.percent > 0) ||
    new Set(running.map((s) => s.files)).size > 1 ||
    new Set(running.map((s) => s.bytes)).size > 1;
  expect(moved, `progress moved before the end; seen: ${JSON.stringify(samples.slice(0, 40))}`).toBe(true);
  await expect(page.locator('#job-progress')).toHaveJSProperty('value', 100);
  return samples;
}

/**
 * Fills `dir` with `files` files of random bytes (incompressible and never
 * deduplicated against an earlier run), `megabytes` in all, in a few
 * subdirectories. Returns `dir`.
 */
export function randomTree(dir: string, megabytes: number, files = 40): string {
  fs.rmSync(dir, { recursive: true, force: true });
  const each = Math.ceil((megabytes * 1024 * 1024) / files);
  for (let i = 0; i < files; i++) {
    const sub = path.join(dir, `part-${i % 4}`);
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `random-${i}.bin`), crypto.randomBytes(each));
  }
  return dir;
}
