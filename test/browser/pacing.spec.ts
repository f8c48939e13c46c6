// The trainer worker's pacing: setPacing({ dutyCycle, paused }) applies between steps, and
// train() reports the time in steps (busyMs) and the time paced or paused between them (idleMs).
import { expect, test } from '@playwright/test';
import { inPage, openGpuPage } from '../harness/page';
import type { DutyRun, PacingCase } from './pacing.cases';

const CASES = '/test/browser/pacing.cases.ts';

/** A tiny model (SwiftShader runs a step in tens of ms) on random tokens. */
const tiny = (): PacingCase => ({
  config: { vocab: 64, context: 16, layers: 1, heads: 2, width: 32 },
  batchSize: 4,
  context: 16,
  tokens: 4096,
});

test.beforeEach(async ({ page }) => {
  await openGpuPage(page);
});

/** Steps per timed run: enough to average out timer noise, few enough for SwiftShader. */
const STEPS = 8;

test('duty cycle 0.5 halves the GPU-busy fraction and about doubles the wall time of duty cycle 1', async ({
  page,
}) => {
  // Alternated, twice each, so a drift in step time (SwiftShader shares two cores) hits both alike.
  const runs = await inPage<DutyRun[]>(page, CASES, 'dutyCycleRuns', {
    ...tiny(),
    steps: STEPS,
    dutyCycles: [1, 0.5, 1, 0.5],
  });
  for (const r of runs) {
    console.log(
      `duty ${r.dutyCycle}: busy ${r.busyMs.toFixed(0)} ms, idle ${r.idleMs.toFixed(0)} ms, fraction ${r.busyFraction.toFixed(3)}, ` +
        `train ms ${r.ms.toFixed(0)}, wall ${r.wallMs.toFixed(0)} ms`,
    );
    expect(r.steps).toBe(STEPS);
    expect(r.progressEvents).toBe(STEPS);
    // No wait follows the last step, so the last progress event carries the final totals.
    expect(r.lastProgressBusyMs).toBe(r.busyMs);
    expect(r.lastProgressIdleMs).toBe(r.idleMs);
    // Busy and idle account for the call's time (less batch drawing and loop overhead).
    expect(r.busyMs + r.idleMs).toBeLessThanOrEqual(r.ms + 1);
    expect(r.busyMs + r.idleMs).toBeGreaterThan(0.8 * r.ms);
    if (r.dutyCycle === 1) {
      // Duty cycle 1 never waits.
      expect(r.busyFraction).toBeGreaterThanOrEqual(0.95);
    } else {
      // Duty cycle 0.5 waits as long as each step after it, except after the last:
      // STEPS / (2·STEPS − 1) = 0.53 for 8 steps; allow 0.5 ± 0.12 for timer and step-time noise.
      expect(r.busyFraction).toBeGreaterThan(0.38);
      expect(r.busyFraction).toBeLessThan(0.62);
    }
  }
  // Wall time: (2·STEPS − 1) / STEPS = 1.875× ideally; step times vary from run to run, so only 1.5× to 3×.
  const wall = (d: number) => runs.filter((r) => r.dutyCycle === d).reduce((ms, r) => ms + r.wallMs, 0);
  console.log(`wall time ratio ${(wall(0.5) / wall(1)).toFixed(2)}`);
  expect(wall(0.5) / wall(1)).toBeGreaterThan(1.5);
  expect(wall(0.5) / wall(1)).toBeLessThan(3);
});

test('pause stops GPU work within one step, and unpausing resumes it', async ({ page }) => {
  const r = await inPage<{
    pausedAt: number;
    midHold: number;
    endHold: number;
    resumedTo: number;
    resumeMs: number;
    cancelled: boolean;
    steps: number;
    busyMs: number;
    idleMs: number;
  }>(page, CASES, 'pauseMidTraining', { ...tiny(), holdMs: 2000 });
  console.log(
    `paused at step ${r.pausedAt}; ${r.midHold} after 1 s, ${r.endHold} after 2 s; resumed to ${r.resumedTo} in ${r.resumeMs.toFixed(0)} ms; idle ${r.idleMs.toFixed(0)} ms`,
  );
  expect(r.pausedAt).toBe(2);
  // At most the step in flight when the pause arrived finishes; then nothing for the rest of the hold.
  expect(r.midHold).toBeLessThanOrEqual(r.pausedAt + 1);
  expect(r.endHold).toBe(r.midHold);
  expect(r.resumedTo).toBeGreaterThan(r.endHold);
  expect(r.cancelled).toBe(true);
  expect(r.steps).toBeGreaterThanOrEqual(r.resumedTo);
  expect(r.steps).toBeLessThan(200);
  // The hold shows up as idle time (less the step that was in flight at the start of it).
  expect(r.idleMs).toBeGreaterThan(1500);
});

test('paused before train() starts, no step runs until unpaused; cancel() ends a paused call at once', async ({
  page,
}) => {
  const r = await inPage<{
    stepsWhilePaused: number;
    settledWhilePaused: boolean;
    steps: number;
    idleMs: number;
    firstProgressIdleMs: number;
    cancelledSteps: number;
    cancelledFlag: boolean;
    cancelledTokens: number;
    cancelMs: number;
  }>(page, CASES, 'pausedBeforeTrain', { ...tiny(), holdMs: 1500, steps: 3 });
  console.log(
    `steps while paused ${r.stepsWhilePaused}; idle ${r.idleMs.toFixed(0)} ms; cancelled paused call in ${r.cancelMs.toFixed(0)} ms`,
  );
  expect(r.stepsWhilePaused).toBe(0);
  expect(r.settledWhilePaused).toBe(false);
  expect(r.steps).toBe(3);
  // The wait before the first step is idle time, reported from the first progress event on.
  expect(r.firstProgressIdleMs).toBeGreaterThan(1400);
  expect(r.idleMs).toBeGreaterThan(1400);
  expect(r.cancelledFlag).toBe(true);
  expect(r.cancelledSteps).toBe(0);
  expect(r.cancelledTokens).toBe(0);
  expect(r.cancelMs).toBeLessThan(1000);
});

test('cancel() or a higher duty cycle during a long duty-cycle wait takes effect without sitting it out', async ({
  page,
}) => {
  const r = await inPage<{
    cancelled: boolean;
    cancelledSteps: number;
    cancelMs: number;
    cancelWaitMs: number;
    raisedSteps: number;
    raiseMs: number;
    raiseWaitMs: number;
  }>(page, CASES, 'longWaitInterrupted', tiny());
  console.log(
    `cancel took ${r.cancelMs.toFixed(0)} ms of a ${r.cancelWaitMs.toFixed(0)} ms wait; duty 1 finished in ${r.raiseMs.toFixed(0)} ms of a ${r.raiseWaitMs.toFixed(0)} ms wait`,
  );
  expect(r.cancelled).toBe(true);
  expect(r.cancelledSteps).toBe(1);
  expect(r.cancelMs).toBeLessThan(r.cancelWaitMs / 2);
  expect(r.raisedSteps).toBe(3);
  expect(r.raiseMs).toBeLessThan(r.raiseWaitMs / 2);
});

test('setPacing rejects duty cycles outside (0, 1] with a clear error and keeps the pacing it had', async ({
  page,
}) => {
  const r = await inPage<{ messages: string[]; stepsAfter: number }>(page, CASES, 'pacingRejects', tiny());
  expect(r.messages).toEqual([
    'dutyCycle must be in (0, 1], got 0',
    'dutyCycle must be in (0, 1], got 1.5',
    'dutyCycle must be in (0, 1], got NaN',
    'dutyCycle must be in (0, 1], got -0.5',
    'dutyCycle must be in (0, 1], got Infinity',
  ]);
  expect(r.stepsAfter).toBe(2);
});
