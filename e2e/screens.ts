// Screenshots of the end-to-end tests' pages: each written to test-screens/ and attached to its test.
import { join } from 'node:path';
import { expect, type Page, type TestInfo } from '@playwright/test';

/** Outside test-results/, which Playwright clears as it runs. */
const SCREENS_DIR = 'test-screens';
/** A phone's screen, in CSS pixels. */
const PHONE = { width: 390, height: 844 };

/** Screenshots the whole of `page` as test-screens/`name`.png, and attaches it to the test. */
export async function screenshot(page: Page, name: string, testInfo: TestInfo): Promise<void> {
  const path = join(SCREENS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

/**
 * `page` as it is now, three times: as it is (`name`), on a phone (`name`-phone, where nothing may
 * be wider than the screen) and in the dark colour scheme (`name`-dark).
 */
export async function screenshots(page: Page, name: string, testInfo: TestInfo): Promise<void> {
  await screenshot(page, name, testInfo);
  const size = page.viewportSize();
  await page.setViewportSize(PHONE);
  try {
    await screenshot(page, `${name}-phone`, testInfo);
    expect(await page.evaluate(() => document.documentElement.scrollWidth), `${name} on a phone`).toBeLessThanOrEqual(
      PHONE.width,
    );
  } finally {
    if (size) await page.setViewportSize(size);
  }
  await page.emulateMedia({ colorScheme: 'dark' });
  try {
    await screenshot(page, `${name}-dark`, testInfo);
  } finally {
    await page.emulateMedia({ colorScheme: null });
  }
}
