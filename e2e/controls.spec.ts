// The volunteer's controls over their machine (issue 19), each in headless Chromium against a seed
// in this process that publishes a grid schedule (an Electricity Maps CSV the test writes):
// - CPU pressure through Chromium's virtual pressure source (the DevTools protocol's override, the
//   automation hook the Compute Pressure spec defines), so the page's real PressureObserver fires;
//   and a browser without the API;
// - the volunteer's hours under Playwright's clock (installed from the page's start; its time runs
//   at the real pace until the test moves it);
// - the grid threshold in a region chosen by hand, and a run without a schedule;
// - the impact figures of a receipt against the GPU-busy time the tab measured;
// - the page's own long tasks and dropped frames while it trains;
// and screenshots of each state on a desktop, a phone and in the dark scheme, in test-screens/.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type CDPSession, chromium, expect, type Page, test } from '@playwright/test';
import { ADAPTER_POWER } from '../src/fed';
import { type Seed, startSeed } from '../src/seed';
import { clockTime, MINUTES_PER_DAY, type PressureState, type TabState } from '../src/tab';
import { energyText, given } from '../src/ui/glance';
import { chromiumFlags, requireChromium } from '../test/harness/chromium';
import { screenshots } from './screens';
import { openTab, startContributing, tabUrl, waitForTab } from './tabs';

test.describe.configure({ mode: 'serial' });

/** The grid schedule's regions and their (constant) intensity, gCO₂/kWh. */
const CLEAN = { region: 'TEST-CLEAN', g: 100 };
const DIRTY = { region: 'TEST-DIRTY', g: 500 };
const HOUR = 3_600_000;
/** Waits that span a round or two of the tiny model on SwiftShader, on a loaded machine. */
const ROUND_WAIT_MS = 200_000;

let seed: Seed;
let runDir: string;
let browser: Browser;
/** The tab the controls are tried on, one after another, and its virtual CPU pressure. */
let page: Page;
let pressure: CDPSession;

/** An Electricity Maps export of the hours around now, each region at its one intensity. */
function electricityMapsCsv(): string {
  const header =
    'Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),Carbon Intensity gCO₂eq/kWh (life cycle assessment)';
  const first = Math.floor(Date.now() / HOUR) * HOUR - 12 * HOUR;
  const lines = [header];
  for (let h = 0; h < 24; h++) {
    const at = new Date(first + h * HOUR).toISOString().replace('T', ' ').slice(0, 19);
    for (const { region, g } of [CLEAN, DIRTY]) lines.push(`${at},Testland,${region},${region},${g - 20},${g}`);
  }
  return `${lines.join('\n')}\n`;
}

test.beforeAll(async () => {
  runDir = await mkdtemp(join(tmpdir(), 'vgpu-controls-'));
  const grid = join(runDir, 'grid.csv');
  await writeFile(grid, electricityMapsCsv());
  seed = await startSeed({
    runDir,
    appDir: runDir,
    grid: [grid],
    fed: { hyper: { steps: 4, batchSize: 2, context: 32, lr: 3e-3, weightDecay: 0.1, dataSeed: 1 }, roundMs: 90_000 },
  });
  browser = await chromium.launch({
    executablePath: requireChromium(),
    args: chromiumFlags({ testSpeedups: true, computePressure: true }),
    headless: true,
  });
});

test.afterAll(async () => {
  await browser?.close();
  await seed?.stop();
  await rm(runDir, { recursive: true, force: true });
});

const seedUrl = () => seed.url.replace(/\/$/, '');
/** Volunteers the seed counts as taking part (joined and connected). */
const volunteers = () => seed.coordinator.status().volunteers;
const setPressure = (state: PressureState, session = pressure) =>
  session.send('Emulation.setPressureStateOverride', { source: 'cpu', state });

/**
 * A tab in UTC whose CPU pressure the test sets (Chromium's virtual pressure source, 'nominal' to
 * begin with: the loaded test machine's own would pause it at random); `before` runs before it loads.
 */
async function openControlledTab(
  baseURL: string,
  before?: (p: Page) => Promise<void>,
): Promise<{ tab: Page; pressure: CDPSession }> {
  let session: CDPSession | undefined;
  const tab = await openTab(browser, tabUrl(baseURL, seedUrl()), undefined, {
    context: { timezoneId: 'UTC' },
    before: async (p) => {
      session = await p.context().newCDPSession(p);
      await session.send('Emulation.setPressureSourceOverrideEnabled', { enabled: true, source: 'cpu' });
      await setPressure('nominal', session);
      await before?.(p);
    },
  });
  return { tab, pressure: session! };
}

/** Sets a settings field as a volunteer does: fill (or pick) it, then leave it, which fires its change. */
async function setField(p: Page, name: string, value: string): Promise<void> {
  const field = p.locator(`#settings [name="${name}"]`);
  if ((await field.evaluate((e) => e.tagName)) === 'SELECT') await field.selectOption(value);
  else {
    await field.fill(value);
    await field.blur();
  }
}

/** Waits for the tab to train on (a step past the losses it has now). */
async function trainsOn(p: Page): Promise<TabState> {
  const { training } = await waitForTab(p, () => true, 10_000);
  return waitForTab(p, (s) => s.training.losses.length > training.losses.length, ROUND_WAIT_MS);
}

test('a browser without the Compute Pressure API, and a run without a grid schedule: the page says so, hides the grid option, and trains', async ({
  baseURL,
}, testInfo) => {
  test.setTimeout(400_000);
  const plain = await openTab(browser, tabUrl(baseURL!, seedUrl()), undefined, {
    before: async (p) => {
      await p.addInitScript(() => delete (window as { PressureObserver?: unknown }).PressureObserver);
      // What the page gets from a seed started without --grid.
      await p.route('**/grid.json', (route) =>
        route.fulfill({ status: 404, body: 'no grid', headers: { 'access-control-allow-origin': '*' } }),
      );
    },
  });
  try {
    await startContributing(plain, 0.5);
    const s = await waitForTab(plain, (st) => st.training.status === 'training', ROUND_WAIT_MS);
    expect(s.pressure).toBe('unsupported');
    expect(s.grid).toBeUndefined();
    expect(s.warnings.join('\n')).not.toContain('grid schedule'); // a 404 is no schedule, not a failure
    expect(s.dutyCycleNow).toBe(0.5);
    await expect(plain.getByTestId('pressure')).toContainText('not reported by this browser');
    await expect(plain.locator('#grid-settings')).toBeHidden();
    await screenshots(plain, 'controls-no-pressure-api', testInfo);
  } finally {
    await plain.context().close();
  }
});

test("the volunteer's hours, under a fake clock: outside them the tab leaves the run and holds; it joins again when they begin", async ({
  baseURL,
}, testInfo) => {
  test.setTimeout(600_000);
  // Playwright's clock from the page's start: its timers are the clock's from the first one (a clock
  // installed later would leave the page's earlier timers where the new clearInterval cannot reach).
  const { tab } = await openControlledTab(baseURL!, (p) => p.clock.install({ time: Date.now() }));
  try {
    await startContributing(tab, 0.5);
    await waitForTab(tab, (s) => s.training.status === 'training', ROUND_WAIT_MS);
    await expect.poll(volunteers, { timeout: 30_000 }).toBe(1);
    // Hours from 5 minutes ago for two hours (UTC, the page's time zone); then the page's clock goes
    // back 30 minutes, before they begin, and forward to now again.
    const minute = Math.floor(Date.now() / 60_000) % MINUTES_PER_DAY;
    const from = clockTime((minute - 5 + MINUTES_PER_DAY) % MINUTES_PER_DAY);
    const to = clockTime((minute + 120) % MINUTES_PER_DAY);
    await setField(tab, 'hoursFrom', from);
    await setField(tab, 'hoursTo', to);
    await tab.locator('#settings [name="onlyHours"]').check();
    await waitForTab(tab, (s) => s.settings.onlyHours, 10_000);
    expect((await waitForTab(tab, () => true, 10_000)).awayBecause).toBeUndefined();

    await tab.clock.setSystemTime(Date.now() - 30 * 60_000);
    const away = await waitForTab(tab, (s) => s.training.status === 'away', 60_000);
    expect(away.awayBecause).toBe(`outside your hours (${from}–${to})`);
    await expect.poll(volunteers, { timeout: 30_000 }).toBe(0);
    await expect(tab.locator('#now')).toHaveText(
      `Holding: outside your hours (${from}–${to}). The seed was told; the tab joins the run again as soon as you allow.`,
    );
    await expect(tab.locator('#contributing')).toHaveText('Holding: out of the run for now');
    await screenshots(tab, 'controls-away-hours', testInfo);

    await tab.clock.setSystemTime(Date.now());
    await waitForTab(tab, (s) => s.awayBecause === undefined, 60_000);
    await expect.poll(volunteers, { timeout: 60_000 }).toBe(1);
    await trainsOn(tab);
  } finally {
    await tab.context().close();
  }
});

test('CPU pressure: serious lowers the duty cycle, critical pauses the trainer, and both lift when it falls', async ({
  baseURL,
}, testInfo) => {
  test.setTimeout(600_000);
  ({ tab: page, pressure } = await openControlledTab(baseURL!));
  await startContributing(page, 0.5);
  await waitForTab(page, (s) => s.pressure === 'nominal' && s.training.status === 'training', ROUND_WAIT_MS);
  await screenshots(page, 'controls-training', testInfo);

  await setPressure('serious');
  await waitForTab(page, (s) => s.pressure === 'serious' && s.dutyCycleNow === 0.25, 30_000);
  await expect(page.getByTestId('pressure')).toHaveText(
    'serious: GPU duty lowered from 50% to 25%: the CPU is under serious pressure',
  );
  await expect(page.locator('#contributing')).toHaveText('Contributing, eased off');
  await screenshots(page, 'controls-pressure-serious', testInfo);

  // Critical while a round trains: the trainer holds before its next step, and the page says why.
  await waitForTab(page, (s) => s.training.status === 'training', ROUND_WAIT_MS);
  await setPressure('critical');
  const held = await waitForTab(
    page,
    (s) => s.pressure === 'critical' && s.training.status === 'holding',
    ROUND_WAIT_MS,
  );
  expect(held.pausedBecause).toBe('paused while the CPU is under critical pressure; resumes when it eases');
  await expect(page.locator('#now')).toHaveText(
    'Paused: paused while the CPU is under critical pressure; resumes when it eases.',
  );
  await screenshots(page, 'controls-pressure-critical', testInfo);

  await setPressure('fair');
  const resumed = await trainsOn(page);
  expect(resumed).toMatchObject({ pressure: 'fair', dutyCycleNow: 0.5, pausedBecause: undefined });
});

// biome-ignore lint/correctness/noEmptyPattern: Playwright reads the fixtures from an object pattern; this test needs none.
test('the grid: in the region chosen, at or above the threshold the tab leaves the run; below it, it joins again', async ({}, testInfo) => {
  test.setTimeout(600_000);
  await expect(page.locator('#grid-settings')).toBeVisible();
  await expect(page.locator('#grid-region option')).toHaveText(['choose…', CLEAN.region, DIRTY.region]);
  await expect(page.locator('#grid-source')).toHaveText("The run's schedule: grid.csv.");
  await setField(page, 'gridRegion', DIRTY.region);
  await setField(page, 'gridLimit', '300');
  const away = await waitForTab(page, (s) => s.training.status === 'away', 60_000);
  expect(away.awayBecause).toBe(`the grid in ${DIRTY.region} is at ${DIRTY.g} gCO₂/kWh, not below your 300`);
  expect(away.gridIntensity).toBe(DIRTY.g);
  await expect.poll(volunteers, { timeout: 30_000 }).toBe(0);
  await expect(page.getByTestId('grid-now')).toHaveText(`${DIRTY.g} gCO₂/kWh in ${DIRTY.region}`);
  await screenshots(page, 'controls-away-grid', testInfo);

  await setField(page, 'gridRegion', CLEAN.region);
  await waitForTab(page, (s) => s.awayBecause === undefined && s.gridIntensity === CLEAN.g, 30_000);
  await expect.poll(volunteers, { timeout: 60_000 }).toBe(1);
  await trainsOn(page);
});

// biome-ignore lint/correctness/noEmptyPattern: Playwright reads the fixtures from an object pattern; this test needs none.
test("impact: a receipt carries the GPU-busy time the tab measured, its class's energy and the grid's gCO₂; the page shows them and their sums", async ({}, testInfo) => {
  test.setTimeout(600_000);
  // The volunteer corrects the class the page detected (SwiftShader: software).
  expect((await waitForTab(page, () => true, 10_000)).gpu?.adapterClass).toBe('software');
  await setField(page, 'adapterClass', 'integrated');
  const s = await waitForTab(
    page,
    (st) => st.training.receipts.some((r) => r.adapter === 'integrated'),
    2 * ROUND_WAIT_MS,
  );
  const r = s.training.receipts.find((x) => x.adapter === 'integrated')!;
  // A round the seed issued again (nobody's update usable) is trained again: the last one sent is the receipt's.
  const measured = s.training.sent.findLast((x) => x.round === r.round)!;
  console.log(`round ${r.round}: the tab measured ${measured.gpuMs} ms busy; the receipt says ${r.gpuSeconds} s`);
  // The seed caps the header's busy time only past the round's length.
  expect(r.gpuSeconds! * 1000).toBeCloseTo(measured.gpuMs, 6);
  expect(r.estimatedWh).toBeCloseTo((ADAPTER_POWER.integrated.watts * r.gpuSeconds!) / 3600, 10);
  expect(r.gCO2).toBeCloseTo((r.estimatedWh! / 1000) * CLEAN.g, 10);
  expect(r.flops).toBeGreaterThan(0);

  const item = page.locator(`li[data-round="${r.round}"]`);
  await expect(item).toContainText(`GPU ${r.gpuSeconds!.toFixed(1)} s`);
  await expect(item).toHaveAttribute('title', /integrated adapter: 15 W/);
  // The sums against the tab's state at the same look: a later receipt can land between two looks.
  await expect
    .poll(async () => {
      const now = await waitForTab(page, () => true, 10_000);
      const total = given(now.training.receipts, now.training.gpuMs);
      return [
        (await page.getByTestId('total-energy').textContent()) === energyText(total.energy),
        (await page.getByTestId('total-credits').textContent()) === total.credits.toFixed(2),
      ];
    })
    .toEqual([true, true]);
  await expect(page.getByTestId('total-co2')).toBeVisible();
  await expect(page.locator('#power-table tr[data-class="integrated"]')).toContainText('15 W (5–30 W)');
  await screenshots(page, 'controls-impact', testInfo);
});

// biome-ignore lint/correctness/noEmptyPattern: Playwright reads the fixtures from an object pattern; this test needs none.
test("the page's own long tasks and dropped frames while training are measured and shown", async ({}, testInfo) => {
  test.setTimeout(400_000);
  const before = await waitForTab(
    page,
    (s) => s.training.status === 'training' && (s.responsiveness?.frames ?? 0) > 0,
    ROUND_WAIT_MS,
  );
  const r = before.responsiveness!;
  console.log(
    `while training for ${(r.measuredMs / 1000).toFixed(0)} s: ${r.longTasks} long tasks (${r.longTaskMs.toFixed(0)} ms, longest ${r.longestTaskMs.toFixed(0)} ms), ${r.droppedFrames} of ${r.frames} frames dropped (worst gap ${r.worstFrameMs.toFixed(0)} ms)`,
  );
  testInfo.annotations.push({ type: 'responsiveness', description: JSON.stringify(r) });
  expect(r.longTasksObserved).toBe(true);
  // A task of 150 ms on the page's main thread while it trains: counted, and its frames dropped. The
  // page measures only while it trains, and a 4-step round can end before the task runs: the task
  // is injected again at each look until one is counted (the totals only grow; the browser coarsens
  // task durations to a few ms). Long tasks of the page's own may come too, on a loaded machine.
  const counted = (s: TabState) =>
    (s.responsiveness?.longestTaskMs ?? 0) >= 140 && s.responsiveness!.longTaskMs >= r.longTaskMs + 140;
  await expect
    .poll(
      async () => {
        if (counted(await waitForTab(page, () => true, 10_000))) return true;
        await page.evaluate(() =>
          setTimeout(() => {
            const t = performance.now();
            while (performance.now() - t < 150);
          }),
        );
        return false;
      },
      { timeout: ROUND_WAIT_MS, intervals: [2_000] },
    )
    .toBe(true);
  const after = await waitForTab(page, () => true, 10_000);
  expect(after.responsiveness!.longTasks).toBeGreaterThan(r.longTasks);
  expect(after.responsiveness!.droppedFrames).toBeGreaterThan(r.droppedFrames);
  await expect(page.getByTestId('responsiveness')).toContainText(/\d+ long tasks? \(longest \d+ ms\)/);
});

// biome-ignore lint/correctness/noEmptyPattern: Playwright reads the fixtures from an object pattern; this test needs none.
test('the dark colour scheme gives the page its dark colours', async ({}) => {
  await page.emulateMedia({ colorScheme: 'dark' });
  expect(await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor)).toBe('rgb(13, 17, 23)');
  await page.emulateMedia({ colorScheme: 'light' });
  expect(await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor)).toBe(
    'rgb(246, 248, 250)',
  );
});
