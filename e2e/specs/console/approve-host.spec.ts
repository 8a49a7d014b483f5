// The pending host, approved the way an operator should: compare the
// fingerprint the page shows with the one the agent printed, then approve.
// Then an admin gives it a repository through the console (add, assign,
// initialise), so the console project has a host with a repository and a
// job to show.
import * as fs from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { ensureRestRepository, REST_REPOSITORY, restUrlWithCredentials } from '../support/cairn';
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

test('an admin adds the REST repository, lets the host use it and initialises it, all from the console', async ({ page }) => {
  // Added on the repositories page: name, restic's URL (with the REST
  // server's credentials in it) and the repository's password.
  await page.goto('/repositories');
  await page.locator('#repo-name').fill(REST_REPOSITORY);
  await page.locator('#repo-url').fill(restUrlWithCredentials());
  await page.locator('#repo-password').fill(`repo-${env.restPassword}`);
  await expect(page.locator('#repo-create-command')).toContainText('cairn ctl repos create');
  await page.locator('#repo-create-submit').click();
  await expect(page).toHaveURL(/\/repositories\?created=\d+/);
  const created = Number(new URL(page.url()).searchParams.get('created'));
  expect(created).toBeGreaterThan(0);
  // No credential is shown again, anywhere on the page.
  expect(await page.content(), 'no REST password on the page').not.toContain(env.restPassword);

  // Assigned to the host from its card.
  const card = page.locator(`#repo-${created}`);
  await expect(card.locator('h2')).toContainText(REST_REPOSITORY);
  await card.locator('select[name=host]').selectOption(String(env.agentHostId));
  await card.getByRole('button', { name: 'Assign' }).click();
  await expect(page.locator(`#repo-${created}`).locator(`a[href="/hosts/${env.agentHostId}"]`)).toBeVisible();

  // Initialised from the host's page, followed live on the job's page.
  const hostPath = `/hosts/${env.agentHostId}`;
  await page.goto(hostPath);
  await expect(fact(page, 'Repositories')).toHaveText(REST_REPOSITORY);
  const form = page.locator('form#run-backup');
  await form.locator('select[name=kind]').selectOption('init');
  await form.locator('select[name=repository]').selectOption(String(created));
  await expect(page.locator('#run-ctl')).toContainText('cairn ctl');
  await form.getByRole('button', { name: 'Run now' }).click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('#job-status')).toHaveText('succeeded', { timeout: 180_000 });
  expect(await ensureRestRepository(env.agentHostId)).toBe(created);
});
