// Runs browser-side test code (modules under test/browser/*.cases.ts) in a real page.
import { test as base, type Page } from '@playwright/test';

export { expect } from '@playwright/test';

/**
 * Playwright's `test` plus `gpuPage`: one harness page per worker, opened once and shared by the
 * tests that ask for it, so its GPU device and compiled pipelines outlive each test (SwiftShader
 * takes 0.3–0.5 s to compile a pipeline). A test that needs a fresh page or device uses `page`.
 * After a failure Playwright starts a new worker, and with it a new page.
 */
export const test = base.extend<object, { gpuPage: Page }>({
  gpuPage: [
    async ({ browser }, use, workerInfo) => {
      const page = await browser.newPage({ baseURL: workerInfo.project.use.baseURL });
      await openGpuPage(page);
      await use(page);
      await page.close();
    },
    { scope: 'worker' },
  ],
});

/** Opens the harness page and fails with a clear message when WebGPU is missing. */
export async function openGpuPage(page: Page): Promise<void> {
  await page.goto('/test/browser/harness.html');
  const problem = await page.evaluate(async () => {
    if (!('gpu' in navigator)) return 'navigator.gpu is undefined (WebGPU disabled: check the launch flags)';
    const adapter = await navigator.gpu.requestAdapter();
    return adapter ? null : 'navigator.gpu.requestAdapter() returned null (no usable adapter)';
  });
  if (problem) {
    throw new Error(
      `WebGPU unavailable in headless Chromium: ${problem}. Without a GPU, Chromium needs ` +
        '--enable-unsafe-webgpu --enable-unsafe-swiftshader --use-webgpu-adapter=swiftshader (see test/harness/chromium.ts).',
    );
  }
}

/**
 * Calls `exportName(arg)` from the module at `modulePath` (served by Vite) inside the
 * page and returns its JSON-serialisable result.
 */
export function inPage<T>(page: Page, modulePath: string, exportName: string, arg?: unknown): Promise<T> {
  const expression =
    `import(${JSON.stringify(modulePath)})` +
    `.then((m) => m[${JSON.stringify(exportName)}](${JSON.stringify(arg ?? null)}))`;
  return page.evaluate(expression) as Promise<T>;
}
