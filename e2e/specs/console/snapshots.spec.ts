// Snapshots, the way an operator uses them: a folder tree that lists itself
// on the host as it is opened, a file ticked and restored onto another path
// (its bytes compared with the original), and two snapshots compared.
// Real restic on a real REST server, through the console only.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { ctl, ensureRestRepository } from '../support/cairn';
import { env } from '../support/env';

test.describe.configure({ mode: 'serial', timeout: 360_000 });

const source = path.join(env.scratch, 'snapshot-src');
const restored = path.join(env.restoreRoot, 'from-the-console');

function write(file: string, bytes: Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
}

/** Backs `source` up and waits for the job to succeed. */
async function backup(repository: number): Promise<void> {
  await ctl(
    ['backup', '--host', String(env.agentHostId), '--repo', String(repository), '--path', source, '--wait'],
    240_000,
  );
}

/** Every folder from `/` down to `dir`, as the tree names them. */
function prefixes(dir: string): string[] {
  const parts = dir.split('/').filter(Boolean);
  return parts.map((_, i) => '/' + parts.slice(0, i + 1).join('/'));
}

/** Opens the tree folder by folder down to `dir`, each one listed lazily. */
async function openDown(page: Page, dir: string): Promise<void> {
  for (const folder of prefixes(dir)) {
    const toggle = page.locator(`#snapshot-tree button.tree-toggle[data-path="${folder}"]`);
    await expect(toggle, `the tree shows ${folder}`).toBeVisible({ timeout: 90_000 });
    await toggle.click();
    await expect(toggle).toHaveAttribute('aria-expanded', 'true', { timeout: 90_000 });
  }
}

let repository = 0;
const original = crypto.randomBytes(96 * 1024);

test('two backups of a small tree, one change apart, are listed newest first', async ({ page }) => {
  repository = await ensureRestRepository(env.agentHostId);
  fs.rmSync(source, { recursive: true, force: true });
  write(path.join(source, 'keep.bin'), original);
  write(path.join(source, 'docs', 'changes.txt'), Buffer.from('first version\n'));
  write(path.join(source, 'docs', 'goes.txt'), Buffer.from('removed before the second backup\n'));
  await backup(repository);
  write(path.join(source, 'docs', 'changes.txt'), Buffer.from('second version, longer than the first\n'));
  fs.rmSync(path.join(source, 'docs', 'goes.txt'));
  write(path.join(source, 'docs', 'new.txt'), Buffer.from('added before the second backup\n'));
  await backup(repository);

  await page.goto(`/snapshots?repo=${repository}`);
  const rows = page.locator('#snapshots-table tbody tr', { hasText: source });
  await expect(rows).toHaveCount(2);
});

test('a snapshot is browsed folder by folder; one file restored elsewhere has the same bytes', async ({ page }) => {
  await page.goto(`/snapshots?repo=${repository}`);
  // The older of the two: the second row.
  const older = page.locator('#snapshots-table tbody tr', { hasText: source }).nth(1);
  await older.locator('a[href^="/snapshots/"]').first().click();
  await expect(page.locator('#snapshot-tree')).toBeVisible({ timeout: 90_000 });

  await openDown(page, source);
  const file = `${source}/keep.bin`;
  const tick = page.locator(`#snapshot-tree input[type=checkbox][value="${file}"]`);
  await expect(tick).toBeVisible({ timeout: 90_000 });
  await tick.check();
  // A folder ticked as well, then unticked: the selection is what is ticked.
  const docs = page.locator(`#snapshot-tree input[type=checkbox][value="${source}/docs"]`);
  await docs.check();
  await docs.uncheck();

  await page.locator('#restore-host').selectOption(String(env.agentHostId));
  await page.locator('#restore-target').fill(restored);
  await page.locator('#restore-review').click();

  // The summary says what will happen, and the command that does the same.
  await expect(page.locator('#restore-summary')).toBeVisible();
  await expect(page.locator('#restore-items')).toContainText('keep.bin');
  await expect(page.locator('#restore-items')).not.toContainText('docs');
  await expect(page.locator('#restore-summary')).toContainText(restored);
  await expect(page.locator('#restore-ctl')).toContainText('cairn ctl restore');
  await page.locator('#restore-confirm').click();

  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('#job-status')).toHaveText('succeeded', { timeout: 240_000 });
  // restic restores an item under its full path inside the target.
  const copy = fs.readFileSync(path.join(restored, source, 'keep.bin'));
  expect(copy.equals(original), 'the restored bytes are the original ones').toBe(true);
  expect(fs.existsSync(path.join(restored, source, 'docs')), 'nothing unticked was restored').toBe(false);
});

test('two snapshots are compared: added, removed and changed, with the size change', async ({ page }) => {
  await page.goto(`/snapshots?repo=${repository}`);
  const newer = page.locator('#snapshots-table tbody tr', { hasText: source }).first();
  await newer.getByRole('link', { name: 'Compare with previous' }).click();
  await expect(page).toHaveURL(/\/snapshots\/diff\?/);
  await expect(page.locator('#diff-summary')).toBeVisible({ timeout: 90_000 });
  await expect(page.locator('#diff-added')).toContainText('new.txt');
  await expect(page.locator('#diff-removed')).toContainText('goes.txt');
  await expect(page.locator('#diff-changed')).toContainText('changes.txt');
  await expect(page.locator('#diff-added')).not.toContainText('keep.bin');
  await expect(page.locator('#diff-changed')).not.toContainText('keep.bin');
  await expect(page.locator('#diff-ctl')).toContainText('cairn ctl');
});
