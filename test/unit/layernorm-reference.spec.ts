import { expect, test } from '@playwright/test';
import { layernormBackwardCpu, layernormForwardCpu } from '../../src/model/cpu/layernorm';
import { randomUniform } from '../../src/util/random';
import { gradientError, numericGradient, weightedSum } from '../harness/gradcheck';

// The reference computes in f64 when given Float64Arrays, so central differences with
// h = 1e-5 are accurate to ~1e-9; a backward formula error would show as O(1).
const GRAD_TOL = 1e-6;

const f64 = (n: number, seed: number) => Float64Array.from(randomUniform(n, seed));

test('layernormForwardCpu normalises a hand-checked row and saves mean and rstd', () => {
  const x = new Float64Array([1, 2, 3]);
  const { y, mean, rstd } = layernormForwardCpu({
    x,
    gamma: new Float64Array([1, 1, 2]),
    beta: new Float64Array([0, 0, 1]),
    rows: 1,
    C: 3,
  });
  const s = 1 / Math.sqrt(2 / 3 + 1e-5); // biased variance of [1, 2, 3] is 2/3
  expect(mean[0]).toBeCloseTo(2, 12);
  expect(rstd[0]).toBeCloseTo(s, 12);
  expect(y[0]).toBeCloseTo(-s, 12);
  expect(y[1]).toBeCloseTo(0, 12);
  expect(y[2]).toBeCloseTo(2 * s + 1, 12);
});

for (const [rows, C] of [
  [3, 5],
  [2, 1],
  [4, 13],
] as const) {
  test(`layernormBackwardCpu matches finite differences for rows=${rows} C=${C}`, () => {
    const x = f64(rows * C, 1);
    const gamma = f64(C, 2);
    const beta = f64(C, 3);
    const w = f64(rows * C, 4); // loss = Σ w·y, so dy = w
    const loss = (xv: Float64Array, g: Float64Array, b: Float64Array) =>
      weightedSum(layernormForwardCpu({ x: xv, gamma: g, beta: b, rows, C }).y, w);
    const { mean, rstd } = layernormForwardCpu({ x, gamma, beta, rows, C });
    const grads = layernormBackwardCpu({ dy: w, x, mean, rstd, gamma, rows, C });
    expect(
      gradientError(
        grads.dx,
        numericGradient((v) => loss(v, gamma, beta), x),
      ),
    ).toBeLessThan(GRAD_TOL);
    expect(
      gradientError(
        grads.dgamma,
        numericGradient((v) => loss(x, v, beta), gamma),
      ),
    ).toBeLessThan(GRAD_TOL);
    expect(
      gradientError(
        grads.dbeta,
        numericGradient((v) => loss(x, gamma, v), beta),
      ),
    ).toBeLessThan(GRAD_TOL);
  });
}

test('layernorm reference keeps the input precision: f32 in, f32 out', () => {
  const x = randomUniform(6, 5);
  const gamma = randomUniform(3, 6);
  const fwd = layernormForwardCpu({ x, gamma, beta: randomUniform(3, 7), rows: 2, C: 3 });
  expect(fwd.y).toBeInstanceOf(Float32Array);
  const grads = layernormBackwardCpu({
    dy: randomUniform(6, 8),
    x,
    mean: fwd.mean,
    rstd: fwd.rstd,
    gamma,
    rows: 2,
    C: 3,
  });
  expect(grads.dx).toBeInstanceOf(Float32Array);
});
