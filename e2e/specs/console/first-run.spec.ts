// First run: the one-time setup link the server printed makes the first
// admin; that admin signs in. Leaves a signed-in browser state and an admin
// API token for the specs after it (see playwright.config.ts, projects).
import * as fs from 'node:fs';
import { expect, test } from '@playwright/test';
import { ctl } from '../support/cairn';
import { axeViolations, createFirstAdmin, loadCleanly, screenshotAll, SCHEMES, useScheme } from '../support/console';
import { ADMIN_STATE, ADMIN_TOKEN_FILE, env } from '../support/env';

test.describe.configure({ mode: 'serial' });

test('the setup page loads cleanly, is accessible and fits a phone', async ({ page }) => {
  expect(await loadCleanly(page, env.setupUrl)).toEqual([]);
  await expect(page.getByRole('heading', { name: 'Welcome to Cairn' })).toBeVisible();
  for (const scheme of SCHEMES) {
    await useScheme(page, scheme);
    expect.soft(await axeViolations(page), `axe on the setup page, ${scheme}`).toEqual([]);
  }
  expect.soft(await screenshotAll(page, 'setup')).toEqual([]);
});

test('the setup link makes the first admin, signed in, and then stops working', async ({ page, browser }) => {
  await createFirstAdmin(page);

  // The link works once: a second browser gets "setup is complete".
  const other = await browser.newContext();
  try {
    const again = await other.newPage();
    const response = await again.goto(env.setupUrl);
    expect(response?.status()).toBe(410);
    await expect(again.getByRole('heading', { name: 'Setup is complete' })).toBeVisible();
    await expect(again.locator('form[action="/setup"]')).toHaveCount(0);
  } finally {
    await other.close();
  }
});

test('the admin signs in; the session is kept for the other specs', async ({ page }) => {
  expect(await loadCleanly(page, '/login')).toEqual([]);
  for (const scheme of SCHEMES) {
    await useScheme(page, scheme);
    expect.soft(await axeViolations(page), `axe on the sign-in page, ${scheme}`).toEqual([]);
  }
  expect.soft(await screenshotAll(page, 'login')).toEqual([]);

  await page.getByLabel('Username').fill(env.adminUser);
  await page.getByLabel('Password', { exact: true }).fill(env.adminPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('nav .who')).toContainText(env.adminUser);
  await expect(page).toHaveURL(/\/$/);
  await page.context().storageState({ path: ADMIN_STATE });
});

test('the admin makes an API token in the console, for scripted setup steps', async ({ browser }) => {
  const context = await browser.newContext({ storageState: ADMIN_STATE });
  try {
    const page = await context.newPage();
    await page.goto('/account');
    await page.getByLabel('Name', { exact: true }).fill('e2e setup steps');
    await page.getByLabel('Scope').selectOption('admin');
    await page.getByLabel('Expires in days').fill('1');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.locator('pre.secret').textContent())?.trim() ?? '';
    expect(secret, 'the new token is shown once').not.toBe('');
    fs.writeFileSync(ADMIN_TOKEN_FILE, secret, { mode: 0o600 });
    expect(await ctl(['whoami'])).toContain(env.adminUser);
  } finally {
    await context.close();
  }
});
