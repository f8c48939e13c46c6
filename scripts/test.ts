// `npm test`: makes sure a Chromium is there (installing one when it can), lints, type-checks, then
// runs every Playwright project inside a private network namespace (WebRTC between tabs needs
// one): unit (Node), attack (Node peers against a real seed), browser (WebGPU in headless
// Chromium), e2e (the seed and several tabs).
// Extra arguments go to `playwright test`, e.g. `npm test -- --project=unit`.
import { spawnSync } from 'node:child_process';
import { findChromium, NO_CHROMIUM_MESSAGE } from '../test/harness/chromium';
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
  runInNetns(['npx', 'playwright', 'test', ...process.argv.slice(2)], { ...process.env, CHROME_PATH: chromiumPath }),
);
