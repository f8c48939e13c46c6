// Time to first contribution (issue 19, item 7), on the default run: the seed's own settings
// (DEFAULT_FED_SETTINGS: the tiny model, 64 steps of 1 × 64 tokens a round, a 120 s deadline), two
// tabs on this machine's software adapter. The first tab's join reissues the empty round 0 with it;
// the second joins while round 0 is open and is amended into it. Each tab's time from pressing
// Start to its first accepted receipt is printed and attached to the test (a measurement, not an
// assertion: speed is for benchmarks); the test asserts that both are credited for round 0.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, expect, test } from '@playwright/test';
import { type Seed, startSeed } from '../src/seed';
import { chromiumFlags, requireChromium } from '../test/harness/chromium';
import { openTab, startContributing, tabUrl, waitForTab } from './tabs';

let seed: Seed;
let runDir: string;
let browser: Browser;

test.beforeAll(async () => {
  runDir = await mkdtemp(join(tmpdir(), 'vgpu-first-'));
  seed = await startSeed({ runDir, appDir: runDir });
  browser = await chromium.launch({
    executablePath: requireChromium(),
    args: chromiumFlags({ testSpeedups: true }),
    headless: true,
  });
});

test.afterAll(async () => {
  await browser?.close();
  await seed?.stop();
  await rm(runDir, { recursive: true, force: true });
});

test('on the default run, a tab that starts and one that joins the open round are both credited for round 0', async ({
  baseURL,
}, testInfo) => {
  test.setTimeout(400_000);
  const url = tabUrl(baseURL!, seed.url.replace(/\/$/, ''));
  const first = await openTab(browser, url);
  const second = await openTab(browser, url);
  const credited = async (page: typeof first, started: number) => {
    const s = await waitForTab(page, (st) => st.training.receipts.some((r) => r.accepted), 360_000);
    return { seconds: (Date.now() - started) / 1000, round: s.training.receipts.find((r) => r.accepted)!.round };
  };
  const firstStarted = Date.now();
  await startContributing(first);
  const firstCredit = credited(first, firstStarted);
  // The second tab starts once the first trains: round 0 is open with the first tab in it.
  await waitForTab(first, (st) => st.training.status === 'training', 120_000);
  const secondStarted = Date.now();
  await startContributing(second);
  const results = await Promise.all([firstCredit, credited(second, secondStarted)]);
  for (const [i, r] of results.entries()) {
    const line = `tab ${i + 1}: Start to first accepted contribution ${r.seconds.toFixed(1)} s (round ${r.round})`;
    console.log(line);
    testInfo.annotations.push({ type: 'time to first contribution', description: line });
  }
  expect(results.map((r) => r.round)).toEqual([0, 0]);
});
