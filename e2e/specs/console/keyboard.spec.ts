// The console by keyboard alone: the main navigation, a host's "Run now",
// and a snapshot's folder tree are reached with Tab and used with Enter or
// Space, with a visible focus ring.
import { expect, test, type Page } from '@playwright/test';
import { env } from '../support/env';

/** Presses Tab until `target` has the focus (at most `limit` times). */
async function tabTo(page: Page, target: import('@playwright/test').Locator, limit = 80): Promise<void> {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    if (await target.evaluate((el) => el === document.activeElement)) return;
  }
  throw new Error(`Tab never reached ${target}`);
}

test('the navigation, a host action and the snapshot tree work from the keyboard', async ({ page }) => {
  await page.goto('/');
  const hosts = page.locator('nav[aria-label="Main"] a[href="/hosts"]');
  await tabTo(page, hosts);
  // The focus ring shows where the keyboard is.
  const outline = await hosts.evaluate((el) => getComputedStyle(el).outlineStyle);
  expect(outline).not.toBe('none');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/hosts$/);

  await page.goto(`/hosts/${env.agentHostId}`);
  const run = page.locator('form#run-backup button[type=submit]');
  await tabTo(page, page.locator('#run-kind'), 120);
  await tabTo(page, run, 40);

  await page.goto('/snapshots');
  const first = page.locator('#snapshots-table a[href^="/snapshots/"]').first();
  await tabTo(page, first, 120);
  await page.keyboard.press('Enter');
  const toggle = page.locator('#snapshot-tree button.tree-toggle').first();
  await expect(toggle).toBeVisible({ timeout: 90_000 });
  await tabTo(page, toggle, 120);
  await page.keyboard.press('Enter');
  await expect(toggle).toHaveAttribute('aria-expanded', 'true', { timeout: 90_000 });
  const children = page.locator(`#${await toggle.getAttribute('aria-controls')}`);
  await expect(children.locator('li').first()).toBeVisible({ timeout: 90_000 });
});
