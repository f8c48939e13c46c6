// Runs browser-side test code (modules under test/browser/*.cases.ts) in a page: a tab of headless
// Chromium, or, in the `dawn` project, this Node worker with Dawn's WebGPU (src/volunteer/dawn.ts).
import { type Browser, test as base, type Page } from '@playwright/test';
import { dawnAdapter, describeAdapter } from '../../src/volunteer/dawn';
import { registerViteImports } from '../../src/volunteer/vite-imports';

export { expect } from '@playwright/test';

/** Where the GPU pages run: Chromium's WebGPU, or Dawn in the Node test worker (the `dawn` project). */
export type GpuBackend = 'chromium' | 'dawn';

/** What the kernel specs use of a page. */
export type GpuPage = Pick<Page, 'evaluate'>;

/**
 * Playwright's `test` plus two pages with a GPU:
 * - `gpuPage`: one per worker, opened once and shared by the tests that ask for it, so its GPU device
 *   and compiled pipelines outlive each test (SwiftShader takes 0.3–0.5 s to compile a pipeline).
 *   After a failure Playwright starts a new worker, and with it a new page.
 * - `freshGpuPage`: a new tab for one test, for tests that must not share the page's state.
 * On Dawn both are the worker process itself: a fresh page there shares module state (the page's
 * device, from pageGpu()) with the other tests of the worker; a test that needs its own device creates one.
 */
export const test = base.extend<
  { freshGpuPage: GpuPage },
  { gpuBackend: GpuBackend; launchBrowser: () => Promise<Browser>; gpuPage: GpuPage }
>({
  gpuBackend: ['chromium', { option: true, scope: 'worker' }],
  // Chromium, launched on first use (with the project's launch options), so the dawn project starts none.
  launchBrowser: [
    async ({ playwright, browserName }, use) => {
      let launched: Promise<Browser> | undefined;
      await use(() => (launched ??= playwright[browserName].launch()));
      if (launched) await (await launched).close();
    },
    { scope: 'worker' },
  ],
  gpuPage: [
    ({ gpuBackend, launchBrowser }, use, workerInfo) =>
      provideGpuPage(gpuBackend, launchBrowser, workerInfo.project.use.baseURL, use),
    { scope: 'worker' },
  ],
  freshGpuPage: ({ gpuBackend, launchBrowser }, use, testInfo) =>
    provideGpuPage(gpuBackend, launchBrowser, testInfo.project.use.baseURL, use),
});

/** Hands `use` a page with a GPU: the Dawn page, or a new Chromium tab on the harness page, closed after. */
async function provideGpuPage(
  backend: GpuBackend,
  launchBrowser: () => Promise<Browser>,
  baseURL: string | undefined,
  use: (page: GpuPage) => Promise<void>,
): Promise<void> {
  if (backend === 'dawn') return use(await openDawnPage());
  const page = await (await launchBrowser()).newPage({ baseURL });
  await openGpuPage(page);
  await use(page);
  await page.close();
}

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
 * Lavapipe settings for the tests: its shader compiles take 3.5× less time (three matmul tiles: 17.5 s
 * → 5.0 s of CPU), which is most of a cold run, and what Dawn hands it is unchanged: 128-bit vectors
 * instead of 256 (so subgroups of 4 lanes, not 8) and no LLVM optimisation passes. Set unless the
 * caller chose; other drivers ignore them; benchmarks keep lavapipe's defaults.
 */
const LAVAPIPE_TEST_SETTINGS = { LP_NATIVE_VECTOR_WIDTH: '128', GALLIVM_PERF: 'nopt' };

/** Whether this worker printed the adapter its tests run on. */
let dawnAdapterShown = false;

/**
 * The page of the `dawn` project: this Node worker, with Dawn's navigator.gpu and Vite's imports
 * (`?raw`, root-relative paths). evaluate() runs the function here on a copy of its argument and
 * returns a copy of its result, as a page receives and returns serialised ones. Prints the adapter
 * once per worker; fails saying what to install when Vulkan has no adapter.
 */
async function openDawnPage(): Promise<GpuPage> {
  registerViteImports();
  for (const [name, value] of Object.entries(LAVAPIPE_TEST_SETTINGS)) process.env[name] ??= value;
  const adapter = await dawnAdapter();
  if (!dawnAdapterShown) console.log(describeAdapter(adapter));
  dawnAdapterShown = true;
  const evaluate = async (fn: (arg: unknown) => unknown, arg?: unknown) =>
    structuredClone(await fn(structuredClone(arg)));
  return { evaluate: evaluate as GpuPage['evaluate'] };
}

/**
 * Calls `exportName(arg)` from the module at `modulePath` (root-relative, as Vite serves it) inside
 * the page and returns its JSON-serialisable result.
 */
export function inPage<T>(page: GpuPage, modulePath: string, exportName: string, arg?: unknown): Promise<T> {
  return page.evaluate(([path, name, input]) => import(path).then((m) => m[name](input)), [
    modulePath,
    exportName,
    arg ?? null,
  ] as const) as Promise<T>;
}
