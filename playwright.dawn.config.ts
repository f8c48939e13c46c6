// The `dawn` project alone, with no Vite server and no browser: for a machine with a GPU and no
// browser (scripts/gpu-check.sh) and for a quick run here (`npx playwright test -c playwright.dawn.config.ts`).
import { defineConfig } from '@playwright/test';
import config, { dawnProject } from './playwright.config';
import type { GpuBackend } from './test/harness/page';

export default defineConfig<object, { gpuBackend: GpuBackend }>({
  timeout: config.timeout,
  reporter: config.reporter,
  projects: [dawnProject],
});
