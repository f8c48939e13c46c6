// The tab's pacing part (src/tab/pacing.ts) with a fake browser: settings, visibility, the battery
// and the day's GPU budget become the pacing the trainer gets, and the settings are kept.
import { expect, test } from '@playwright/test';
import { memoryProgressStore } from '../../src/storage';
import { createPacing, DEFAULT_SETTINGS, type PacingEnvironment, type Settings, today } from '../../src/tab';
import type { Pacing, Trainer } from '../../src/trainer';

function fakeBrowser() {
  let hidden = false;
  const visibility: (() => void)[] = [];
  let battery: ((onBattery: boolean) => void) | undefined;
  const environment: PacingEnvironment = {
    hidden: () => hidden,
    onVisibilityChange: (f) => void visibility.push(f),
    watchBattery: (f) => {
      battery = f;
    },
  };
  return {
    environment,
    setHidden(h: boolean) {
      hidden = h;
      for (const f of visibility) f();
    },
    setOnBattery: (b: boolean) => battery?.(b),
  };
}

/** A trainer that only records the pacing it is given. */
function pacingRecorder() {
  const calls: Partial<Pacing>[] = [];
  const trainer = { setPacing: async (p: Partial<Pacing>) => void calls.push(p) } as unknown as Trainer;
  return { trainer, last: () => calls.at(-1), calls };
}

function setup(settings: Partial<Settings> = {}, usedTodayMs = 0) {
  const browser = fakeBrowser();
  const store = memoryProgressStore();
  const changes: (string | undefined)[] = [];
  const pacing = createPacing({
    store,
    environment: browser.environment,
    settings: { ...DEFAULT_SETTINGS, running: true, ...settings },
    gpuDay: { day: today(), busyMs: usedTodayMs },
    onChange: (_settings, reason) => void changes.push(reason),
  });
  const recorder = pacingRecorder();
  pacing.attach(recorder.trainer);
  return { browser, store, pacing, recorder, changes };
}

test('a running volunteer works at the chosen duty cycle; Pause holds the trainer and is kept', async () => {
  const { pacing, recorder, store } = setup({ dutyCycle: 0.75 });
  expect(recorder.last()).toEqual({ dutyCycle: 0.75, paused: false });
  await pacing.update({ running: false });
  expect(recorder.last()).toEqual({ dutyCycle: 0.75, paused: true });
  expect(pacing.pausedBecause).toBe('paused by you');
  expect(await store.getProgress<Settings>('settings')).toMatchObject({ running: false, dutyCycle: 0.75 });
});

test('hiding the tab pauses only when the volunteer asked for it', () => {
  const plain = setup({ pauseWhenHidden: false });
  plain.browser.setHidden(true);
  expect(plain.recorder.last()?.paused).toBe(false);
  const careful = setup({ pauseWhenHidden: true });
  careful.browser.setHidden(true);
  expect(careful.recorder.last()?.paused).toBe(true);
  expect(careful.pacing.pausedBecause).toBe('paused while this tab is hidden');
  careful.browser.setHidden(false);
  expect(careful.recorder.last()?.paused).toBe(false);
});

test('unplugging the charger pauses while pauseOnBattery is set', () => {
  const { browser, recorder, pacing, changes } = setup({ pauseOnBattery: true });
  browser.setOnBattery(true);
  expect(recorder.last()?.paused).toBe(true);
  expect(pacing.pausedBecause).toBe('paused while on battery');
  browser.setOnBattery(false);
  expect(recorder.last()?.paused).toBe(false);
  expect(changes).toContain('paused while on battery');
});

test('the daily GPU budget pauses once spent, and the day is kept', async () => {
  const { pacing, recorder, store } = setup({ dailyBudgetMinutes: 1 }, 59_000);
  expect(recorder.last()?.paused).toBe(false);
  pacing.spent(500);
  expect(recorder.last()?.paused).toBe(false);
  pacing.spent(600);
  expect(recorder.last()?.paused).toBe(true);
  expect(pacing.pausedBecause).toBe("today's GPU budget of 1 min is used");
  expect(await store.getProgress('gpu-day')).toEqual({ day: today(), busyMs: 60_100 });
});
