import { defineConfig } from '@playwright/test';
import { chromiumFlags, findChromium } from './test/harness/chromium';
import type { GpuBackend } from './test/harness/page';

/** Port of the Vite dev server that serves the browser test pages. */
const TEST_PORT = Number(process.env.VGPU_TEST_PORT ?? 5199);

/**
 * A project of pages in headless Chromium, one test at a time (SwiftShader and WebRTC load the
 * CPU), while the other projects use the other worker.
 */
function chromiumProject(name: string, testDir: string, args: string[]) {
  return {
    name,
    testDir,
    fullyParallel: false,
    workers: 1,
    use: {
      browserName: 'chromium' as const,
      headless: true,
      baseURL: `http://127.0.0.1:${TEST_PORT}`,
      launchOptions: { executablePath: findChromium(), args },
    },
  };
}

/**
 * The kernel specs of test/browser again, in Node on Dawn (src/volunteer/dawn.ts): a second WebGPU
 * implementation, over lavapipe in CI or the real GPU where Vulkan has one. Left out: the specs that
 * need a browser (storage: IndexedDB; pacing, trainer, verify-divergence: the trainer's Web Worker)
 * and onnx-gpt (onnxruntime-web's WebGPU provider fails under Dawn in Node: "Invalid argument" from
 * its wasm on the first run). `npx playwright test -c playwright.dawn.config.ts` runs it alone, without Vite.
 */
export const dawnProject = {
  name: 'dawn',
  testDir: 'test/browser',
  testIgnore: ['onnx-gpt.spec.ts', 'pacing.spec.ts', 'storage.spec.ts', 'trainer.spec.ts', 'verify-divergence.spec.ts'],
  // One test at a time: lavapipe runs every workgroup on all cores itself.
  fullyParallel: false,
  workers: 1,
  use: { gpuBackend: 'dawn' as GpuBackend },
};

export default defineConfig<object, { gpuBackend: GpuBackend }>({
  timeout: 120_000,
  globalSetup: './test/harness/global-setup.ts',
  reporter: [['list'], ['./test/harness/summary-reporter.ts']],
  // Two at a time, which keeps both cores of a small machine busy. Playwright starts the first job in
  // this list's order that may run, and a browser project never takes more than one worker
  // (SwiftShader runs WebGPU on the CPU). So: the attacks first, on both workers (their WebRTC dials
  // hang more often beside the end-to-end tests' tabs); then the end-to-end tests, the longest chain
  // that runs one at a time, on one worker, while the other runs the rest, the unit tests last.
  workers: 2,
  projects: [
    // Attacks on a real in-process seed by ordinary Node libp2p peers (and HTTP clients).
    { name: 'attack', testDir: 'test/attack' },
    // The seed and several tabs; WebRTC between tabs needs the network namespace `npm test` provides.
    chromiumProject('e2e', 'e2e', chromiumFlags({ webgpu: false })),
    chromiumProject('browser', 'test/browser', chromiumFlags({ testSpeedups: true })),
    // coturn and homes behind NAT: network namespaces, routers and tabs the tests build (test/harness/nat.ts).
    chromiumProject('nat', 'test/nat', chromiumFlags({ webgpu: false })),
    dawnProject,
    { name: 'unit', testDir: 'test/unit' },
  ],
  webServer: {
    command: `npx vite --port ${TEST_PORT} --strictPort`,
    url: `http://127.0.0.1:${TEST_PORT}/test/browser/harness.html`,
    env: { VGPU_NO_RELOAD: '1' },
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
  },
});
