// Screenshots of the end-to-end tests' pages: each written to test-screens/ and attached to its test.
import { join } from 'node:path';
import type { Page, TestInfo } from '@playwright/test';

/** Outside test-results/, which Playwright clears as it runs. */
const SCREENS_DIR = 'test-screens';

/** Screenshots the whole of `page` as test-screens/`name`.png, and attaches it to the test. */
export async function screenshot(page: Page, name: string, testInfo: TestInfo): Promise<void> {
  const path = join(SCREENS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}
