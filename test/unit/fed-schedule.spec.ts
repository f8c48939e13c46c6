// The inner learning rate over a run's rounds (src/fed/schedule.ts) and within a round's local steps
// (warmedLr, stepHyper in src/trainer/trainer.ts): values at the edges, bad schedules refused, and a
// CPU trainer's first warmed-up AdamW step moving the weights by the warmed-up lr.
import { expect, test } from '@playwright/test';
import { checkLrSchedule, scheduledLr } from '../../src/fed/schedule';
import { DEFAULT_HYPER, gptTrainStepCpu, initParams, paramLayout } from '../../src/model';
import { stepHyper, warmedLr } from '../../src/trainer/trainer';

test('scheduledLr: a linear warm-up over warmupRounds, a cosine to finalFraction·lr at `rounds`, flat after; none without a schedule', () => {
  const s = { warmupRounds: 2, rounds: 10, finalFraction: 0.1 };
  expect(scheduledLr(1, undefined, 7)).toBe(1);
  expect(scheduledLr(1, s, 0)).toBe(0.5);
  expect(scheduledLr(1, s, 1)).toBe(1);
  expect(scheduledLr(1, s, 2)).toBeCloseTo(1, 12);
  expect(scheduledLr(1, s, 6)).toBeCloseTo(0.1 + 0.9 * 0.5, 12); // half way through the cosine
  expect(scheduledLr(1, s, 10)).toBeCloseTo(0.1, 12);
  expect(scheduledLr(1, s, 50)).toBeCloseTo(0.1, 12);
  expect(scheduledLr(3e-3, { ...s, warmupRounds: 0 }, 0)).toBeCloseTo(3e-3, 15);
  for (let r = 2; r < 12; r++) expect(scheduledLr(1, s, r + 1)).toBeLessThanOrEqual(scheduledLr(1, s, r));
});

test('checkLrSchedule names the field that is wrong', () => {
  expect(() => checkLrSchedule({ warmupRounds: 1, rounds: 8, finalFraction: 0 })).not.toThrow();
  expect(() => checkLrSchedule({ warmupRounds: -1, rounds: 8, finalFraction: 0 })).toThrow(/warmupRounds/);
  expect(() => checkLrSchedule({ warmupRounds: 8, rounds: 8, finalFraction: 0 })).toThrow(/rounds must be/);
  expect(() => checkLrSchedule({ warmupRounds: 0, rounds: 8, finalFraction: 1.5 })).toThrow(/finalFraction/);
  expect(() => checkLrSchedule({ warmupRounds: 0, rounds: 8, finalFraction: Number.NaN })).toThrow(/finalFraction/);
});

test('warmedLr ramps lr/warmup, 2·lr/warmup, … to lr; stepHyper keeps the model defaults and the round’s settings', () => {
  expect([0, 1, 2, 3, 4, 9].map((i) => warmedLr(0.8, 4, i))).toEqual([0.2, 0.4, 0.6000000000000001, 0.8, 0.8, 0.8]);
  expect(warmedLr(0.8, 0, 0)).toBe(0.8);
  expect(warmedLr(0.8, undefined, 0)).toBe(0.8);
  expect(stepHyper({ lr: 0.8, weightDecay: 0.2, warmupSteps: 4 }, 1)).toEqual({
    ...DEFAULT_HYPER,
    lr: 0.4,
    weightDecay: 0.2,
  });
  expect(stepHyper(undefined, 0)).toEqual(DEFAULT_HYPER);
});

test("a warmed-up first AdamW step moves each weight by a quarter of the full step's lr (warmupSteps 4)", () => {
  const config = { vocab: 32, context: 8, layers: 1, heads: 2, width: 16 };
  const layout = paramLayout(config);
  const batch = {
    inputs: new Uint32Array(16).map((_, i) => i % 32),
    targets: new Uint32Array(16).map((_, i) => (i * 7) % 32),
    B: 2,
    T: 8,
  };
  const firstStepMove = (warmupSteps: number) => {
    const start = initParams(layout, 3);
    const state = {
      params: start.slice(),
      m: new Float32Array(start.length),
      v: new Float32Array(start.length),
      step: 0,
    };
    gptTrainStepCpu(layout, state, batch, stepHyper({ lr: 1e-2, weightDecay: 0, warmupSteps }, 0));
    return state.params.reduce((max, p, i) => Math.max(max, Math.abs(p - start[i]!)), 0);
  };
  // Adam's first bias-corrected step moves a weight with a gradient by lr·g/(|g| + ε) ≈ lr.
  expect(firstStepMove(0)).toBeCloseTo(1e-2, 4);
  expect(firstStepMove(4)).toBeCloseTo(1e-2 / 4, 4);
});
