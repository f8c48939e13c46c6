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

/** WebGPU on SwiftShader (no GPU, the default and what CI has) or on the real GPU through Vulkan (GPU=1). */
export function chromiumFlags(options: { webgpu?: boolean; realGpu?: boolean } = {}): string[] {
  if (options.webgpu === false) return BASE_FLAGS;
  const realGpu = options.realGpu ?? process.env.GPU === '1';
  const adapter = realGpu
    ? ['--enable-features=Vulkan', '--use-angle=vulkan', '--disable-vulkan-surface']
    : ['--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader'];
  return [...BASE_FLAGS, '--enable-unsafe-webgpu', ...adapter];
}
