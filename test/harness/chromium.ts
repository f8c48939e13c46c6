// How every browser run (tests, benchmarks, end-to-end) finds and launches Chromium.
import { existsSync } from 'node:fs';
import { chromium } from '@playwright/test';

/** Chromium locations tried in order after $CHROME_PATH. */
export const SYSTEM_CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** The first Chromium found: $CHROME_PATH, the system's, then one Playwright downloaded; undefined when there is none. */
export function findChromium(): string | undefined {
  const fromEnv = process.env.CHROME_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROME_PATH=${fromEnv} does not exist`);
    return fromEnv;
  }
  return [...SYSTEM_CHROMIUM_PATHS, chromium.executablePath()].find((p) => existsSync(p));
}

export const NO_CHROMIUM_MESSAGE =
  'No Chromium found. Install one and/or point CHROME_PATH at it: on Debian/Ubuntu ' +
  '`sudo apt-get install -y chromium`, elsewhere `npx playwright install chromium`, ' +
  'then run again (or `CHROME_PATH=/path/to/chrome npm test`).';

export function requireChromium(): string {
  const path = findChromium();
  if (!path) throw new Error(NO_CHROMIUM_MESSAGE);
  return path;
}

/** Flags that keep Chromium quiet on a closed network. */
const BASE_FLAGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ChromiumOptions {
  /** false: no WebGPU at all (a tab that only shares weights). */
  webgpu?: boolean;
  /** WebGPU on the real GPU through Vulkan; default: GPU=1 in the environment. */
  realGpu?: boolean;
  /**
   * Tests only: skip Dawn's zero-initialisation of workgroup memory. On SwiftShader the code it
   * adds made each pipeline compile ten times slower (attention_forward: 4.2–5.8 s, 0.3–0.4 s
   * without). It only removes a guarantee, so a kernel that passes without it passes with it (a
   * kernel that read workgroup memory before writing it would see stale values here, not zeros).
   * Benchmarks keep the browser's default, as volunteers have it.
   */
  testSpeedups?: boolean;
  /**
   * Keep the Compute Pressure API. Off by default: a tab eases off and pauses under the machine's
   * CPU pressure, which a loaded test machine reports as "critical" at random, so every other test
   * would train at the load's mercy. e2e/controls.spec.ts keeps it and drives it through the
   * DevTools protocol's virtual pressure source.
   */
  computePressure?: boolean;
}

/** WebGPU on SwiftShader (no GPU, the default and what CI has) or on the real GPU through Vulkan (GPU=1). */
export function chromiumFlags(options: ChromiumOptions = {}): string[] {
  const base = options.computePressure ? BASE_FLAGS : [...BASE_FLAGS, '--disable-blink-features=ComputePressure'];
  if (options.webgpu === false) return base;
  const realGpu = options.realGpu ?? process.env.GPU === '1';
  const adapter = realGpu
    ? ['--enable-features=Vulkan', '--use-angle=vulkan', '--disable-vulkan-surface']
    : ['--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader'];
  const speedups = options.testSpeedups ? ['--enable-dawn-features=disable_workgroup_init'] : [];
  return [...base, '--enable-unsafe-webgpu', ...adapter, ...speedups];
}
