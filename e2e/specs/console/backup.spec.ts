// A backup, watched live on its job page to the end: the progress bar moves,
// and "succeeded" arrives without a reload. Real restic, a real REST server,
// ~200 MB of fresh random data each time (nothing to deduplicate).
import * as path from 'node:path';
import { expect, test } from '@playwright/test';
import { ctl, ensureRestRepository, REST_REPOSITORY } from '../support/cairn';
import { env } from '../support/env';
import { followToSuccess, randomTree, recordJobPages } from '../support/jobs';

const SIZE_MB = 200;
const BACKUP_TIMEOUT = 240_000;

test.describe.configure({ timeout: 360_000 });

test('a backup started through the API is followed live on its job page to succeeded', async ({ page }) => {
  const repository = await ensureRestRepository(env.agentHostId);
  const source = randomTree(path.join(env.scratch, 'backup-api'), SIZE_MB);
  await recordJobPages(page);
  const out = await ctl([
    'backup', '--host', String(env.agentHostId), '--repo', String(repository), '--path', source,
  ]);
  const job = Number(/^job (\d+)/m.exec(out)?.[1]);
  expect(Number.isInteger(job), `a job id in: ${out}`).toBe(true);
  await page.goto(`/jobs/${job}`);
  await followToSuccess(page, BACKUP_TIMEOUT);
  await expect(page.locator('#job-snapshot')).not.toHaveText('');
});

test('a backup run from the host page is followed live to succeeded', async ({ page }) => {
  const repository = await ensureRestRepository(env.agentHostId);
  const source = randomTree(path.join(env.scratch, 'backup-ui'), SIZE_MB);
  await recordJobPages(page);
  await page.goto(`/hosts/${env.agentHostId}`);
  const form = page.locator('form#run-backup');
  // The option whose value is the repository's id, else the one that names it.
  const select = form.locator('select[name=repository]');
  const option = await select.locator('option').evaluateAll(
    (options, [id, name]) =>
      (options as HTMLOptionElement[]).find((o) => o.value === id)?.value ??
      (options as HTMLOptionElement[]).find((o) => o.textContent?.includes(name))?.value ??
      null,
    [String(repository), REST_REPOSITORY],
  );
  expect(option, `an option for repository ${repository} (${REST_REPOSITORY})`).not.toBeNull();
  await select.selectOption(option as string);
  await form.locator('textarea[name=paths]').fill(source);
  await form.getByRole('button', { name: 'Run now' }).click();
  await followToSuccess(page, BACKUP_TIMEOUT);
  await expect(page.locator('#job-snapshot')).not.toHaveText('');
});
