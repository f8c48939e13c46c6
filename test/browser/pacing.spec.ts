// The trainer worker's pacing: setPacing({ dutyCycle, paused }) applies between steps. Checked
// against what the trainer itself reports (per-step busy and idle time, its activity while held),
// never against the wall clock. The pacer's own logic is tested in Node (test/unit/trainer-pacing).
import { expect, type Page, test } from '@playwright/test';
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

test.describe.configure({ mode: 'serial' });
let page: Page;
test.beforeAll(async ({ browser }) => {
  page = await browser.newPage();
  await openGpuPage(page);
});
test.afterAll(async () => {
  await page.close();
});

/** Steps per measured run. */
const STEPS = 6;

test('at duty cycle 0.5 each step is followed by a wait at least as long; at 1 by none', async () => {
  const runs = await inPage<DutyRun[]>(page, CASES, 'dutyCycleRuns', { ...tiny(), steps: STEPS, dutyCycles: [1, 0.5] });
  for (const r of runs) {
    console.log(
      `duty ${r.dutyCycle}: busy ${r.busyMs.map((x) => x.toFixed(0)).join(' ')} ms, idle after ${r.idleAfterMs.map((x) => x.toFixed(0)).join(' ')} ms`,
    );
    expect(r.steps).toBe(STEPS);
    expect(r.idleAfterMs).toHaveLength(STEPS - 1);
    // No wait follows the last step, so the last progress event carries the final totals.
    expect(r.lastProgressBusyMs).toBe(r.totalBusyMs);
    expect(r.lastProgressIdleMs).toBe(r.totalIdleMs);
    r.idleAfterMs.forEach((idle, i) => {
      const busy = r.busyMs[i]!;
      // The trainer waits busy·(1 − d)/d after each step, measured on the clock that timed the step.
      if (r.dutyCycle === 0.5) expect(idle, `wait after step ${i + 1}`).toBeGreaterThanOrEqual(busy);
      // Duty cycle 1 never sleeps: what is left is the cost of looking at the pacing, far below a step.
      else expect(idle, `wait after step ${i + 1}`).toBeLessThan(busy / 10);
    });
  }
});

test('a pause from the step-2 callback holds the trainer at step 2; unpausing resumes it', async () => {
  const r = await inPage<{
    heldAtStep: number;
    holdChecks: number;
    holdEvents: number[];
    resumedTo: number;
    cancelled: boolean;
    steps: number;
    idleMs: number;
  }>(page, CASES, 'pauseMidTraining', tiny());
  // The callback is awaited before the next step, so the pause applies right after step 2, and the
  // trainer looked at it three times without starting step 3.
  expect(r.heldAtStep).toBe(2);
  expect(r.holdChecks).toBeGreaterThanOrEqual(3);
  // The page heard of the hold once, at step 2.
  expect(r.holdEvents).toEqual([2]);
  expect(r.resumedTo).toBeGreaterThan(2);
  expect(r.cancelled).toBe(true);
  expect(r.steps).toBeGreaterThanOrEqual(r.resumedTo);
  expect(r.steps).toBeLessThan(200);
  expect(r.idleMs).toBeGreaterThan(0);
});

test('paused before train() starts, no step runs until unpaused; cancel() ends a held call with no step', async () => {
  const r = await inPage<{
    stepsWhileHeld: number;
    settledWhileHeld: boolean;
    firstEvent: { step: number; holding: boolean; idleMs: number };
    steps: number;
    stepEvents: number;
    idleMs: number;
    cancelledSteps: number;
    cancelledFlag: boolean;
    cancelledTokens: number;
  }>(page, CASES, 'pausedBeforeTrain', { ...tiny(), steps: 3 });
  expect(r.stepsWhileHeld).toBe(0);
  expect(r.settledWhileHeld).toBe(false);
  // The first event says the trainer holds before step 1.
  expect(r.firstEvent).toMatchObject({ step: 0, holding: true });
  expect(r.steps).toBe(3);
  expect(r.stepEvents).toBe(3);
  // The hold before the first step is idle time.
  expect(r.idleMs).toBeGreaterThan(0);
  expect(r.cancelledFlag).toBe(true);
  expect(r.cancelledSteps).toBe(0);
  expect(r.cancelledTokens).toBe(0);
});

test('cancel() or a higher duty cycle during a very long duty-cycle wait ends it', async () => {
  const r = await inPage<{ cancelled: boolean; cancelledSteps: number; raisedSteps: number }>(
    page,
    CASES,
    'longWaitInterrupted',
    tiny(),
  );
  expect(r.cancelled).toBe(true);
  expect(r.cancelledSteps).toBe(1);
  expect(r.raisedSteps).toBe(3);
});

test('setPacing rejects duty cycles outside (0, 1] with a clear error and keeps the pacing it had', async () => {
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
