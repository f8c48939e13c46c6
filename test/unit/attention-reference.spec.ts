import { expect, test } from '@playwright/test';
import { attentionBackwardCpu, attentionForwardCpu } from '../../src/model/cpu/attention';
import { randomUniform } from '../../src/util/random';
import { gradientError, numericGradient, weightedSum } from '../harness/gradcheck';

const shape = { B: 2, H: 2, T: 5, D: 3 };
const n = shape.B * shape.H * shape.T * shape.D;

test('causal attention: the first row sees only itself, and lse is the log-sum-exp of its scores', () => {
  const q = randomUniform(n, 1);
  const k = randomUniform(n, 2);
  const v = randomUniform(n, 3);
  const { o, lse } = attentionForwardCpu(shape, q, k, v);
  // Row 0 of each head attends only key 0: its output is v[0] and lse is its one scaled score.
  for (let bh = 0; bh < shape.B * shape.H; bh++) {
    const base = bh * shape.T * shape.D;
    let score = 0;
    for (let d = 0; d < shape.D; d++) {
      expect(o[base + d]).toBeCloseTo(v[base + d]!, 6);
      score += q[base + d]! * k[base + d]!;
    }
    expect(lse[bh * shape.T]).toBeCloseTo(score / Math.sqrt(shape.D), 6);
  }
});

test('attention backward matches finite differences of the forward (max relative error 1e-4)', () => {
  const q = randomUniform(n, 4);
  const k = randomUniform(n, 5);
  const v = randomUniform(n, 6);
  const w = randomUniform(n, 7); // loss = Σ w ∘ O, so dO = w
  const { dq, dk, dv } = attentionBackwardCpu(shape, q, k, v, w);
  const loss = (qq: Float32Array, kk: Float32Array, vv: Float32Array) =>
    weightedSum(attentionForwardCpu(shape, qq, kk, vv).o, w);
  const f32 = (x: Float64Array) => Float32Array.from(x);
  // The forward runs in f32 storage, so a step of 1e-3 keeps rounding noise well under the tolerance.
  const h = 1e-3;
  expect(
    gradientError(
      dq,
      numericGradient((x) => loss(f32(x), k, v), q, h),
    ),
  ).toBeLessThan(1e-4);
  expect(
    gradientError(
      dk,
      numericGradient((x) => loss(q, f32(x), v), k, h),
    ),
  ).toBeLessThan(1e-4);
  expect(
    gradientError(
      dv,
      numericGradient((x) => loss(q, k, f32(x)), v, h),
    ),
  ).toBeLessThan(1e-4);
});
