import { expect, test } from '@playwright/test';
import { adamwStepCpu, type CpuAdamWOptions } from '../../src/model/cpu/adamw';

const HYPER = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

test('adamw takes two hand-checked steps, decaying only the flagged segment', () => {
  const state = { params: new Float32Array([1, 1]), m: new Float32Array(2), v: new Float32Array(2) };
  const segments = [
    { offset: 0, length: 1, decay: true },
    { offset: 1, length: 1, decay: false },
  ];
  adamwStepCpu(state, new Float32Array([0.5, 0.5]), { ...HYPER, step: 1, segments });
  // Step 1: m = 0.1·0.5 = 0.05, v = 0.001·0.25 = 0.00025; bias-corrected m̂ = 0.5, v̂ = 0.25, so the step is lr·0.5/0.5 = 0.1.
  // Decayed: 1 − 0.1·0.1·1 = 0.99, then 0.99 − 0.1 = 0.89.  Not decayed: 1 − 0.1 = 0.9.
  expect(state.m[0]).toBeCloseTo(0.05, 7);
  expect(state.v[0]).toBeCloseTo(0.00025, 9);
  expect(state.params[0]).toBeCloseTo(0.89, 6);
  expect(state.params[1]).toBeCloseTo(0.9, 6);

  adamwStepCpu(state, new Float32Array([-0.5, -0.5]), { ...HYPER, step: 2, segments });
  // Step 2: m = 0.9·0.05 − 0.1·0.5 = −0.005, v = 0.999·0.00025 + 0.001·0.25 = 0.00049975;
  // m̂ = −0.005/(1 − 0.81) = −0.0263158, v̂ = 0.00049975/(1 − 0.998001) = 0.25, so the step is +0.1·0.0263158/0.5.
  // Decayed: 0.89·(1 − 0.01) = 0.8811, + 0.00526316 = 0.88636316.  Not decayed: 0.9 + 0.00526316.
  expect(state.m[0]).toBeCloseTo(-0.005, 7);
  expect(state.v[0]).toBeCloseTo(0.00049975, 9);
  expect(state.params[0]).toBeCloseTo(0.88636316, 6);
  expect(state.params[1]).toBeCloseTo(0.90526316, 6);
});

test('adamw clips the gradient to maxNorm by the global norm, and leaves small gradients alone', () => {
  const run = (maxNorm: number) => {
    const state = { params: new Float32Array(2), m: new Float32Array(2), v: new Float32Array(2) };
    const options: CpuAdamWOptions = { ...HYPER, step: 1, segments: [{ offset: 0, length: 2, decay: true }], maxNorm };
    adamwStepCpu(state, new Float32Array([3, 4]), options); // ‖g‖ = 5
    return state;
  };
  // maxNorm 1: g becomes [3, 4] / (5 + 1e-6) ≈ [0.6, 0.8]; m = 0.1·g, v = 0.001·g².
  const clipped = run(1);
  expect(clipped.m[0]).toBeCloseTo(0.06, 7);
  expect(clipped.m[1]).toBeCloseTo(0.08, 7);
  expect(clipped.v[1]).toBeCloseTo(0.00064, 9);
  // maxNorm 10 > ‖g‖: unchanged.
  const unclipped = run(10);
  expect(unclipped.m[0]).toBeCloseTo(0.3, 7);
  expect(unclipped.m[1]).toBeCloseTo(0.4, 7);
});

test('adamw with lr 0 moves no parameter but still updates the moments', () => {
  const state = { params: new Float32Array([0.25, -2]), m: new Float32Array(2), v: new Float32Array(2) };
  adamwStepCpu(state, new Float32Array([1, -1]), {
    ...HYPER,
    lr: 0,
    step: 1,
    segments: [{ offset: 0, length: 2, decay: true }],
  });
  expect([...state.params]).toEqual([0.25, -2]);
  expect(state.m[1]).toBeCloseTo(-0.1, 7);
});
