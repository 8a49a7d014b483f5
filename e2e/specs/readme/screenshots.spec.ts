// `make screenshots`: the README's six images, captured live from a fresh
// server bootstrap (the runner starts one with nothing in it). Run alone,
// through `CAIRN_E2E_README=1 e2e/run --project=readme`: it spends the
// one-time setup link the other specs need, so a normal run leaves it out.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { createFirstAdmin } from '../support/console';

/** Where the images go: docs/screenshots/ unless the caller says otherwise. */
const OUT = process.env.CAIRN_E2E_README_OUT ?? path.resolve(__dirname, '../../../docs/screenshots');
/** One size for all six, so the README's grid lines up. */
const VIEWPORT = { width: 1280, height: 800 };

test.use({ viewport: VIEWPORT, colorScheme: 'light' });

async function shoot(page: Page, name: string): Promise<void> {
  // Loaded, fonts in (not 'networkidle': the live views hold a stream open).
  await page.waitForLoadState('load');
  await page.evaluate(async () => {
    await document.fonts.ready;
  });
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
  expect(fs.statSync(file).size, `${file} was written`).toBeGreaterThan(10_000);
}

test('the six README screenshots, from a fresh bootstrap', async ({ page }) => {
  fs.mkdirSync(OUT, { recursive: true });

  // The first admin, through the one-time setup link.
  await createFirstAdmin(page);

  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await shoot(page, 'dashboard');

  await page.goto('/hosts/add');
  await expect(page.getByRole('heading', { name: 'Add a host' })).toBeVisible();
  await shoot(page, 'add-host');

  await page.goto('/alerts');
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await shoot(page, 'alerts');

  await page.goto('/settings');
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await shoot(page, 'settings');

  await page.goto('/audit');
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(page.locator('main table tbody tr').first()).toBeVisible();
  await shoot(page, 'audit-log');

  // Signed out, the sign-in page.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  await shoot(page, 'login');
});
