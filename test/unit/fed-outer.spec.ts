// DiLoCo's outer step: two hand-computed steps with and without Nesterov, and the edge cases.
import { expect, test } from '@playwright/test';
import { outerStep } from '../../src/fed/outer';

const OPTS = { lr: 0.5, momentum: 0.9 };
const D1 = new Float32Array([0.1, -0.2]);
const D2 = new Float32Array([0.2, 0.1]);
/** f32 storage of values like 0.905: 6 decimals is well inside one f32 ulp at these magnitudes (~2e-7). */
const close = (got: Float32Array, want: number[]) => {
  for (const [i, w] of want.entries()) expect(got[i], `element ${i}`).toBeCloseTo(w, 6);
};

test('Nesterov: two hand-computed steps', () => {
  const params = new Float32Array([1, 2]);
  const m = new Float32Array(2);
  outerStep(params, m, D1, { ...OPTS, nesterov: true });
  // m = [0.1, −0.2]; step = 0.9·m + Δ = [0.19, −0.38]; params −= 0.5·step.
  close(m, [0.1, -0.2]);
  close(params, [0.905, 2.19]);
  outerStep(params, m, D2, { ...OPTS, nesterov: true });
  // m = 0.9·[0.1, −0.2] + [0.2, 0.1] = [0.29, −0.08]; step = 0.9·m + Δ = [0.461, 0.028].
  close(m, [0.29, -0.08]);
  close(params, [0.905 - 0.2305, 2.19 - 0.014]);
});

test('plain momentum: two hand-computed steps', () => {
  const params = new Float32Array([1, 2]);
  const m = new Float32Array(2);
  outerStep(params, m, D1, { ...OPTS, nesterov: false });
  close(m, [0.1, -0.2]);
  close(params, [0.95, 2.1]); // params −= 0.5·m
  outerStep(params, m, D2, { ...OPTS, nesterov: false });
  close(m, [0.29, -0.08]);
  close(params, [0.95 - 0.145, 2.1 + 0.04]);
});

test('lr 1 without momentum lands on the end weights; a length mismatch throws', () => {
  const start = new Float32Array([1, -2, 3]);
  const end = new Float32Array([0.5, -1, 3.25]);
  const params = start.slice();
  outerStep(
    params,
    new Float32Array(3),
    start.map((s, i) => s - end[i]!),
    { lr: 1, momentum: 0, nesterov: true },
  );
  expect(params).toEqual(end); // exact: these values and their differences are exact in f32
  const outer = { ...OPTS, nesterov: true };
  expect(() => outerStep(new Float32Array(3), new Float32Array(2), new Float32Array(3), outer)).toThrow(
    /params 3, momentum 2, delta 3/,
  );
  expect(() => outerStep(new Float32Array(3), new Float32Array(3), new Float32Array(4), outer)).toThrow(/delta 4/);
});
