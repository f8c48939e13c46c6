// The tab's pacing part (src/tab/pacing.ts) with a fake browser and a manual clock: settings,
// visibility, the battery, the day's GPU budget, the machine's CPU pressure, the volunteer's hours
// and the grid become the pacing the trainer gets and "away or not" for the participant, and the
// settings are kept.
import { expect, test } from '@playwright/test';
import type { GridSchedule } from '../../src/fed';
import { memoryProgressStore } from '../../src/storage';
import {
  createPacing,
  DEFAULT_SETTINGS,
  HOLD_CHECK_MS,
  type PacingEnvironment,
  type PacingView,
  type PressureState,
  type Settings,
  today,
} from '../../src/tab';
import type { Pacing, Trainer } from '../../src/trainer';
import { manualClock } from '../harness/manual-clock';

/** A browser whose visibility, battery and CPU pressure the test sets; `pressureApi: false` has no such API. */
function fakeBrowser({ pressureApi = true } = {}) {
  let hidden = false;
  const visibility: (() => void)[] = [];
  let battery: ((onBattery: boolean) => void) | undefined;
  let pressure: ((state: PressureState) => void) | undefined;
  const environment: PacingEnvironment = {
    hidden: () => hidden,
    onVisibilityChange: (f) => void visibility.push(f),
    watchBattery: (f) => {
      battery = f;
    },
    watchPressure: async (f) => {
      pressure = f;
      return pressureApi;
    },
  };
  return {
    environment,
    setHidden(h: boolean) {
      hidden = h;
      for (const f of visibility) f();
    },
    setOnBattery: (b: boolean) => battery?.(b),
    setPressure: (state: PressureState) => pressure?.(state),
  };
}

/** A trainer that only records the pacing it is given. */
function pacingRecorder() {
  const calls: Partial<Pacing>[] = [];
  const trainer = { setPacing: async (p: Partial<Pacing>) => void calls.push(p) } as unknown as Trainer;
  return { trainer, last: () => calls.at(-1), calls };
}

/** 2026-03-02 at `hh:mm` local time. */
const at = (hh: number, mm = 0) => new Date(2026, 2, 2, hh, mm).getTime();

function setup(
  settings: Partial<Settings> = {},
  {
    usedTodayMs = 0,
    now = at(12),
    pressureApi = true,
  }: { usedTodayMs?: number; now?: number; pressureApi?: boolean } = {},
) {
  const browser = fakeBrowser({ pressureApi });
  const store = memoryProgressStore();
  const clock = manualClock(now);
  const changes: PacingView[] = [];
  const pacing = createPacing({
    store,
    environment: browser.environment,
    settings: { ...DEFAULT_SETTINGS, running: true, ...settings },
    gpuDay: { day: today(new Date(now)), busyMs: usedTodayMs },
    onChange: (_settings, view) => void changes.push(view),
    clock,
  });
  const recorder = pacingRecorder();
  pacing.attach(recorder.trainer);
  return { browser, store, pacing, recorder, changes, clock };
}

/** Lets the pacing's pending promises (the pressure API's answer) settle. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

test('a running volunteer works at the chosen duty cycle; Pause holds the trainer and is kept', async () => {
  const { pacing, recorder, store } = setup({ dutyCycle: 0.75 });
  expect(recorder.last()).toEqual({ dutyCycle: 0.75, paused: false });
  await pacing.update({ running: false });
  expect(recorder.last()).toEqual({ dutyCycle: 0.75, paused: true });
  expect(pacing.view.pausedBecause).toBe('paused by you');
  expect(await store.getProgress<Settings>('settings')).toMatchObject({ running: false, dutyCycle: 0.75 });
});

test('hiding the tab pauses only when the volunteer asked for it', () => {
  const plain = setup({ pauseWhenHidden: false });
  plain.browser.setHidden(true);
  expect(plain.recorder.last()?.paused).toBe(false);
  const careful = setup({ pauseWhenHidden: true });
  careful.browser.setHidden(true);
  expect(careful.recorder.last()?.paused).toBe(true);
  expect(careful.pacing.view.pausedBecause).toBe('paused while this tab is hidden');
  careful.browser.setHidden(false);
  expect(careful.recorder.last()?.paused).toBe(false);
});

test('unplugging the charger pauses while pauseOnBattery is set', () => {
  const { browser, recorder, pacing, changes } = setup({ pauseOnBattery: true });
  browser.setOnBattery(true);
  expect(recorder.last()?.paused).toBe(true);
  expect(pacing.view.pausedBecause).toBe('paused while on battery');
  browser.setOnBattery(false);
  expect(recorder.last()?.paused).toBe(false);
  expect(changes.map((v) => v.pausedBecause)).toContain('paused while on battery');
});

test('the daily GPU budget pauses once spent, and the day is kept', async () => {
  const { pacing, recorder, store } = setup({ dailyBudgetMinutes: 1 }, { usedTodayMs: 59_000 });
  expect(recorder.last()?.paused).toBe(false);
  pacing.spent(500);
  expect(recorder.last()?.paused).toBe(false);
  pacing.spent(600);
  expect(recorder.last()?.paused).toBe(true);
  expect(pacing.view.pausedBecause).toBe("today's GPU budget of 1 min is used");
  expect(await store.getProgress('gpu-day')).toEqual({ day: today(new Date(at(12))), busyMs: 60_100 });
});

test('CPU pressure: serious halves the duty cycle, critical pauses, and each lifts when the pressure falls', async () => {
  const { browser, pacing, recorder } = setup({ dutyCycle: 0.5 });
  await settle();
  expect(pacing.view.pressure).toBeUndefined(); // watched, nothing reported yet
  browser.setPressure('fair');
  expect(recorder.last()).toEqual({ dutyCycle: 0.5, paused: false });
  browser.setPressure('serious');
  expect(recorder.last()).toEqual({ dutyCycle: 0.25, paused: false });
  expect(pacing.view).toMatchObject({ pressure: 'serious', dutyCycleNow: 0.25, pausedBecause: undefined });
  browser.setPressure('critical');
  expect(recorder.last()).toEqual({ dutyCycle: 0.5, paused: true });
  expect(pacing.view.pausedBecause).toBe('paused while the CPU is under critical pressure; resumes when it eases');
  browser.setPressure('serious');
  expect(recorder.last()).toEqual({ dutyCycle: 0.25, paused: false });
  browser.setPressure('nominal');
  expect(recorder.last()).toEqual({ dutyCycle: 0.5, paused: false });
  // A new duty cycle chosen under pressure is halved too.
  browser.setPressure('serious');
  await pacing.update({ dutyCycle: 1 });
  expect(recorder.last()).toEqual({ dutyCycle: 0.5, paused: false });
});

test('without the Compute Pressure API (or where it is refused) the pacing says so and works as set', async () => {
  for (const environment of [{ pressureApi: false }, undefined]) {
    const browser = fakeBrowser(environment);
    const pacing = createPacing({
      store: memoryProgressStore(),
      environment: environment ? browser.environment : { ...browser.environment, watchPressure: undefined },
      settings: { ...DEFAULT_SETTINGS, running: true, dutyCycle: 0.75 },
      gpuDay: { day: today(), busyMs: 0 },
      onChange: () => {},
      clock: manualClock(),
    });
    await settle();
    expect(pacing.view).toMatchObject({ pressure: 'unsupported', dutyCycleNow: 0.75, pausedBecause: undefined });
  }
});

test("outside the volunteer's hours the tab is away, and back when they begin, as the clock moves", async () => {
  const { pacing, recorder, clock, changes } = setup(
    { onlyHours: true, hoursFrom: 22 * 60, hoursTo: 7 * 60 },
    { now: at(21, 58) },
  );
  expect(pacing.awayBecause).toBe('outside your hours (22:00–07:00)');
  expect(pacing.view.pausedBecause).toBe('outside your hours (22:00–07:00)');
  expect(recorder.last()?.paused).toBe(true);
  const back = pacing.until(false, new AbortController().signal);
  let isBack = false;
  void back.then(() => {
    isBack = true;
  });
  const told = changes.length;
  clock.advance(HOLD_CHECK_MS);
  await settle();
  expect(isBack).toBe(false);
  expect(changes.length).toBe(told); // nothing changed: nothing told
  clock.advance(2 * 60_000); // 22:00
  await back;
  expect(pacing.awayBecause).toBeUndefined();
  expect(recorder.last()).toEqual({ dutyCycle: 0.5, paused: false });
  // Across midnight the window holds until 07:00.
  clock.advance(8 * 60 * 60_000 + 59 * 60_000); // 06:59
  expect(pacing.awayBecause).toBeUndefined();
  const away = pacing.until(true, new AbortController().signal);
  clock.advance(60_000); // 07:00
  await away;
  expect(pacing.awayBecause).toBe('outside your hours (22:00–07:00)');
});

test('until() resolves at once when already so, and on abort; an aborted waiter is dropped', async () => {
  const { pacing } = setup();
  await pacing.until(false, new AbortController().signal);
  const abort = new AbortController();
  const waiting = pacing.until(true, abort.signal);
  abort.abort();
  await waiting;
  await pacing.until(true, abort.signal);
});

/** A schedule with `region` at `g` gCO₂/kWh for the hours around 12:00 on 2026-03-02. */
const schedule = (region: string, g: number[]): GridSchedule => ({
  kind: 'vgpu/grid',
  version: 1,
  source: 'test.csv',
  regions: { [region]: g.map((gCO2PerKWh, i) => ({ start: at(11 + i), gCO2PerKWh })) },
});

test('the grid: away while the region is not below the limit, back below it; nothing without a schedule', async () => {
  const { pacing, clock } = setup({ gridRegion: 'DE', gridLimit: 300 }, { now: at(11, 30) });
  expect(pacing.awayBecause).toBeUndefined(); // no schedule: the option is off
  pacing.setGrid(schedule('DE', [420, 250, 300]));
  expect(pacing.awayBecause).toBe('the grid in DE is at 420 gCO₂/kWh, not below your 300');
  expect(pacing.view.gridIntensity).toBe(420);
  clock.advance(30 * 60_000); // 12:00
  expect(pacing.awayBecause).toBeUndefined();
  expect(pacing.view.gridIntensity).toBe(250);
  clock.advance(60 * 60_000); // 13:00: at the limit is not below it
  expect(pacing.awayBecause).toBe('the grid in DE is at 300 gCO₂/kWh, not below your 300');
  pacing.setGrid(undefined);
  expect(pacing.awayBecause).toBeUndefined();
  expect(pacing.view.gridIntensity).toBeUndefined();
});
