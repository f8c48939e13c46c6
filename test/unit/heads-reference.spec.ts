import { expect, test } from '@playwright/test';
import { type HeadDims, joinQkvCpu, mergeHeadsCpu, splitHeadsCpu, splitQkvCpu } from '../../src/model/cpu/heads';
import { randomUniform } from '../../src/util/random';
import { gradientError, numericGradient, weightedSum } from '../harness/gradcheck';

// The permutes are linear, so f64 central differences are exact up to rounding (~1e-10).
const GRAD_TOL = 1e-8;

test('splitQkvCpu moves each of q, k, v into head-major order (hand-checked)', () => {
  // B=1, T=2, H=2, D=1: token t holds [q(h0) q(h1) k(h0) k(h1) v(h0) v(h1)].
  const qkv = Float64Array.from({ length: 12 }, (_, i) => i);
  const { q, k, v } = splitQkvCpu(qkv, { B: 1, T: 2, H: 2, D: 1 });
  expect([...q]).toEqual([0, 6, 1, 7]);
  expect([...k]).toEqual([2, 8, 3, 9]);
  expect([...v]).toEqual([4, 10, 5, 11]);
});

for (const dims of [
  { B: 2, T: 3, H: 3, D: 5 },
  { B: 1, T: 1, H: 2, D: 3 },
] satisfies HeadDims[]) {
  const { B, T, H, D } = dims;
  const n = B * T * H * D;

  test(`joinQkvCpu is the gradient of splitQkvCpu, and its inverse (${JSON.stringify(dims)})`, () => {
    const qkv = Float64Array.from(randomUniform(3 * n, 1));
    const [wq, wk, wv] = [2, 3, 4].map((seed) => Float64Array.from(randomUniform(n, seed))) as [
      Float64Array,
      Float64Array,
      Float64Array,
    ];
    const loss = (x: Float64Array) => {
      const { q, k, v } = splitQkvCpu(x, dims);
      return weightedSum(q, wq) + weightedSum(k, wk) + weightedSum(v, wv);
    };
    expect(gradientError(joinQkvCpu(wq, wk, wv, dims), numericGradient(loss, qkv))).toBeLessThan(GRAD_TOL);
    const { q, k, v } = splitQkvCpu(qkv, dims);
    expect(joinQkvCpu(q, k, v, dims)).toEqual(qkv);
  });

  test(`splitHeadsCpu is the gradient of mergeHeadsCpu, and its inverse (${JSON.stringify(dims)})`, () => {
    const o = Float64Array.from(randomUniform(n, 5));
    const w = Float64Array.from(randomUniform(n, 6));
    const numeric = numericGradient((x) => weightedSum(mergeHeadsCpu(x, dims), w), o);
    expect(gradientError(splitHeadsCpu(w, dims), numeric)).toBeLessThan(GRAD_TOL);
    expect(splitHeadsCpu(mergeHeadsCpu(o, dims), dims)).toEqual(o);
  });
}
