// Every console page a signed-in admin can reach, found from the main
// navigation plus the detail pages it leads to: each loads with no console
// error and no failed request, axe-core finds nothing serious or critical in
// light or dark mode, and each is photographed at desktop and phone width
// (e2e/artifacts/screenshots/<page>-<width>-<scheme>.png).
import { expect, test } from '@playwright/test';
import {
  axeViolations,
  discoverPages,
  loadCleanly,
  screenshotAll,
  SCHEMES,
  useScheme,
} from '../support/console';

// Each test walks every page; generous for a loaded 2-core machine.
test.describe.configure({ timeout: 300_000 });

test('every page loads with no console error and no failed request', async ({ page }) => {
  const pages = await discoverPages(page);
  for (const p of pages) {
    await test.step(`${p.name} (${p.path})`, async () => {
      expect.soft(await loadCleanly(page, p.path), `problems loading ${p.path}`).toEqual([]);
    });
  }
});

test('axe-core finds no serious or critical violation on any page, light or dark', async ({ page }) => {
  const pages = await discoverPages(page);
  for (const p of pages) {
    await test.step(`${p.name} (${p.path})`, async () => {
      await page.goto(p.path);
      for (const scheme of SCHEMES) {
        await useScheme(page, scheme);
        expect.soft(await axeViolations(page), `axe on ${p.path}, ${scheme}`).toEqual([]);
      }
      await useScheme(page, 'light');
    });
  }
});

test('a screenshot of every page at desktop and phone width; none is wider than the window', async ({ page }) => {
  const pages = await discoverPages(page);
  for (const p of pages) {
    await test.step(`${p.name} (${p.path})`, async () => {
      await page.goto(p.path);
      expect.soft(await screenshotAll(page, p.name)).toEqual([]);
    });
  }
});
