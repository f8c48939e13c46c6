// `npm test`: makes sure a Chromium, lavapipe, coturn and nftables are there (installing them when it
// can), lints, type-checks, then runs every Playwright project inside a private network namespace
// (WebRTC between tabs needs one): unit (Node), attack (Node peers against a real seed), browser
// (WebGPU in headless Chromium), e2e (the seed and several tabs), nat (coturn, and tabs in homes
// behind NAT), dawn (the kernel specs in Node on Dawn over lavapipe).
// Extra arguments go to `playwright test`, e.g. `npm test -- --project=unit`.
import { spawnSync } from 'node:child_process';
import { LAVAPIPE_ICD, NO_ADAPTER_MESSAGE } from '../src/volunteer/dawn';
import { findChromium, NO_CHROMIUM_MESSAGE } from '../test/harness/chromium';
import { coturnAvailable, NO_COTURN_MESSAGE } from '../test/harness/coturn';
import { NETNS_HELP, netnsAvailable, runInNetns } from './netns';

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const result = spawnSync(command, args, { stdio: 'inherit', env });
  return result.status ?? 1;
}

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Debian's package when we are root, else Playwright's download (where the network allows). */
function provisionChromium(): string | undefined {
  if (process.getuid?.() === 0 && has('apt-get')) {
    console.log("No Chromium found: installing Debian's chromium package (apt-get install -y chromium)...");
    if (run('apt-get', ['update']) === 0 && run('apt-get', ['install', '-y', 'chromium']) === 0) return findChromium();
  } else {
    console.log('No Chromium found: trying `npx playwright install chromium`...');
    if (run('npx', ['playwright', 'install', 'chromium']) === 0) return findChromium();
  }
  return undefined;
}

const chromiumPath = findChromium() ?? provisionChromium();
if (!chromiumPath) {
  console.error(NO_CHROMIUM_MESSAGE);
  process.exit(1);
}
console.log(`Chromium: ${chromiumPath}`);

/** The dawn project runs on lavapipe unless the caller chose a Vulkan driver. */
const vulkanEnv: NodeJS.ProcessEnv =
  process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES ? {} : { VK_ICD_FILENAMES: LAVAPIPE_ICD };

/** Whether Dawn gets an adapter (in a child: a Vulkan instance reads the list of drivers once). */
function dawnHasAdapter(): boolean {
  const probe = "import { create } from 'webgpu'; process.exit((await create([]).requestAdapter()) ? 0 : 1);";
  const env = { ...process.env, ...vulkanEnv };
  return spawnSync(process.execPath, ['--input-type=module', '-e', probe], { stdio: 'ignore', env }).status === 0;
}

/**
 * Runs `script` (root only: it installs Debian packages) when `available()` says no, and exits with
 * `missing` when it still says no.
 */
function provision(available: () => boolean, what: string, script: string, missing: string): void {
  if (available()) return;
  if (process.getuid?.() === 0) {
    console.log(`${what}: running bash ${script}...`);
    run('bash', [script]);
  }
  if (!available()) {
    console.error(missing);
    process.exit(1);
  }
}

provision(dawnHasAdapter, 'Dawn has no Vulkan adapter', 'scripts/install-lavapipe.sh', NO_ADAPTER_MESSAGE);
// The nat project's coturn (TURN) and nftables (the home networks' routers).
provision(coturnAvailable, 'No coturn or nftables', 'scripts/install-coturn.sh', NO_COTURN_MESSAGE);

if (run('npx', ['biome', 'check', '.']) !== 0) {
  console.error('Lint failed (npm run lint); `npm run format` fixes formatting and safe lint fixes.');
  process.exit(1);
}
if (run('npx', ['tsc', '--noEmit']) !== 0) {
  console.error('Type check failed (npx tsc --noEmit).');
  process.exit(1);
}
if (!netnsAvailable()) {
  console.error(NETNS_HELP);
  process.exit(1);
}
process.exit(
  runInNetns(['npx', 'playwright', 'test', ...process.argv.slice(2)], {
    ...process.env,
    ...vulkanEnv,
    CHROME_PATH: chromiumPath,
  }),
);
