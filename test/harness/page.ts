// Runs browser-side test code (modules under test/browser/*.cases.ts) in a real page.
import type { Page } from '@playwright/test';

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
