// The pending host, approved the way an operator should: compare the
// fingerprint the page shows with the one the agent printed, then approve.
// Then the host gets a repository (through the API, as a script would) so
// the console project has a host with a repository and a job to show.
import * as fs from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { ensureRestRepository, REST_REPOSITORY } from '../support/cairn';
import { axeViolations, loadCleanly, screenshotAll, SCHEMES, useScheme } from '../support/console';
import { env } from '../support/env';

test.describe.configure({ mode: 'serial' });

/** The <dd> beside a fact's <dt> on a page's facts list. */
function fact(page: Page, name: string) {
  return page.locator('dl.facts > dt', { hasText: name }).first().locator('xpath=following-sibling::dd[1]');
}

test('the pending host shows the fingerprint its agent printed; approved by it, it comes online', async ({ page }) => {
  // Found by fingerprint among the pending hosts, as an operator would.
  await page.goto('/hosts?status=pending');
  const row = page.locator('tbody tr', { has: page.locator('code', { hasText: env.agentFingerprint }) });
  await expect(row).toHaveCount(1);
  await row.getByRole('link').click();
  await expect(page).toHaveURL(new RegExp(`/hosts/${env.agentHostId}$`));

  const hostPath = `/hosts/${env.agentHostId}`;
  expect(await loadCleanly(page, hostPath)).toEqual([]);
  await expect(page.locator('h1 .status')).toHaveText('pending');
  await expect(fact(page, 'Fingerprint')).toHaveText(env.agentFingerprint);
  for (const scheme of SCHEMES) {
    await useScheme(page, scheme);
    expect.soft(await axeViolations(page), `axe on the pending host, ${scheme}`).toEqual([]);
  }
  expect.soft(await screenshotAll(page, 'host-pending')).toEqual([]);

  await page.getByLabel('The fingerprint the agent printed in its log').fill(env.agentFingerprint);
  await page.getByRole('button', { name: 'Approve' }).click();
  await expect(page).toHaveURL(new RegExp(`${hostPath}$`));
  await expect(page.locator('h1 .status')).toHaveText('approved');

  // The agent hears it on its open stream (a second Welcome)...
  await expect
    .poll(() => fs.readFileSync(env.agentLog, 'utf8'), { timeout: 60_000 })
    .toMatch(new RegExp(`server says: WELCOME_STATUS_APPROVED \\(host ${env.agentHostId}\\)`));
  // ...and the host page, which is not live, shows it online on a reload.
  await expect(async () => {
    await page.reload();
    await expect(fact(page, 'Link')).toHaveText(/^online/, { timeout: 2_000 });
  }).toPass({ timeout: 60_000 });
});

test('the host gets a repository on the REST server; the console shows it without its credentials', async ({ page }) => {
  const repository = await ensureRestRepository(env.agentHostId);

  await page.goto('/repositories');
  const row = page.locator('tbody tr', { hasText: REST_REPOSITORY });
  await expect(row).toHaveCount(1);
  // Used by the host, at the REST server's address, with no credential shown.
  await expect(row.locator(`a[href="/hosts/${env.agentHostId}"]`)).toBeVisible();
  await expect(row.locator('code')).toContainText(new URL(env.restUrl.replace(/^rest:/, '')).host);
  expect(await page.content(), 'no REST password on the page').not.toContain(env.restPassword);

  await page.goto(`/hosts/${env.agentHostId}`);
  await expect(fact(page, 'Repositories')).toHaveText('1');

  // The init job that made it is listed, succeeded.
  await page.goto(`/jobs?host=${env.agentHostId}`);
  await expect(page.locator('tbody tr').first()).toContainText('succeeded');
  expect(repository).toBeGreaterThan(0);
});
