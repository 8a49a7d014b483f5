// The runner's own check, run only by e2e/selftest (CAIRN_E2E_BROKEN=1): an
// assertion that cannot hold, on a real page, so the run must fail and
// leave the failure's screenshot, trace and the fleet's logs behind.
import { expect, test } from '@playwright/test';

test('a deliberately broken assertion fails the run', async ({ page }) => {
  test.skip(process.env.CAIRN_E2E_BROKEN !== '1', 'only e2e/selftest runs this');
  await page.goto('/login');
  await expect(page.getByRole('heading', { name: 'This heading is not on the page' })).toBeVisible({ timeout: 3_000 });
});
