// The trainer's pacer (src/trainer/pacing.ts) on its own: the duty-cycle wait it takes between
// steps, the hold while paused, and the settings that cut a wait short. The checks compare what
// the pacer waited with what it was asked (the same clock measures both), never with a time band.
import { expect, test } from '@playwright/test';
import { createPacer, dutyWaitMs, PACE_SLICE_MS, validatePacing } from '../../src/trainer/pacing';

/** Resolves once `ok()` holds, checking every slice. */
async function until(ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise((r) => setTimeout(r, PACE_SLICE_MS / 5));
}

test('the duty-cycle wait is t·(1 − d)/d: none at 1, the step again at 0.5, three steps at 0.25', () => {
  expect(dutyWaitMs(40, 1)).toBe(0);
  expect(dutyWaitMs(40, 0.5)).toBe(40);
  expect(dutyWaitMs(40, 0.25)).toBe(120);
});

test('a wait lasts at least what the duty cycle asks, in slices', async () => {
  const pacer = createPacer({ dutyCycle: 0.5, paused: false });
  for (const stepMs of [0, 7, 2.5 * PACE_SLICE_MS]) {
    expect(await pacer.wait(stepMs)).toBeGreaterThanOrEqual(dutyWaitMs(stepMs, 0.5));
  }
});

test('a pause holds until lifted: onHold once, then one hold check per slice', async () => {
  const pacer = createPacer({ dutyCycle: 1, paused: true });
  let holds = 0;
  let checks = 0;
  let done = false;
  const waiting = pacer.wait(0, { onHold: () => void holds++, onHoldCheck: () => void checks++ }).then(() => {
    done = true;
  });
  await until(() => checks >= 3);
  expect(done).toBe(false);
  expect(holds).toBe(1);
  pacer.set({ paused: false });
  await waiting;
  expect(holds).toBe(1);
});

test('cancel() and a higher duty cycle cut a long wait short; begin() clears the cancel', async () => {
  // At duty cycle 0.0001 a 100 ms step asks for a wait of about 17 minutes.
  const long = dutyWaitMs(100, 0.0001);
  const pacer = createPacer({ dutyCycle: 0.0001, paused: false });
  const cancelled = pacer.wait(100);
  pacer.cancel();
  expect(await cancelled).toBeLessThan(long / 1000);
  expect(pacer.cancelled).toBe(true);
  pacer.begin();
  expect(pacer.cancelled).toBe(false);
  const raised = pacer.wait(100);
  pacer.set({ dutyCycle: 1 });
  expect(await raised).toBeLessThan(long / 1000);
});

test('cancel() ends a hold', async () => {
  const pacer = createPacer({ dutyCycle: 1, paused: true });
  let checks = 0;
  const holding = pacer.wait(0, { onHoldCheck: () => void checks++ });
  await until(() => checks >= 1);
  pacer.cancel();
  await holding;
  expect(pacer.cancelled).toBe(true);
});

test('duty cycles outside (0, 1] are refused with a clear error, and the pacing stays as it was', () => {
  const current = { dutyCycle: 0.5, paused: false };
  for (const d of [0, 1.5, Number.NaN, -0.5, Number.POSITIVE_INFINITY]) {
    expect(() => validatePacing({ dutyCycle: d }, current)).toThrow(`dutyCycle must be in (0, 1], got ${d}`);
  }
  const pacer = createPacer(current);
  expect(() => pacer.set({ dutyCycle: 0 })).toThrow();
  expect(pacer.pacing).toEqual(current);
  expect(validatePacing({ paused: true }, current)).toEqual({ dutyCycle: 0.5, paused: true });
});
