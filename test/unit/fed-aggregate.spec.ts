// Robust aggregation: each rule on hand-computed cases, robustness to one bad update, and errors.
import { expect, test } from '@playwright/test';
import { type AggregationRule, aggregate, DEFAULT_AGGREGATION, l2Norm, trimCount } from '../../src/fed/aggregate';
import { createRandom, randomUniform } from '../../src/util/random';

const f32 = (...v: number[]) => new Float32Array(v);
/** Element-wise closeness to 6 decimals (inputs are exact in f32, results rounded once to f32). */
const expectClose = (got: Float32Array, want: number[]) => {
  expect(got.length).toBe(want.length);
  for (const [i, w] of want.entries()) expect(got[i], `element ${i}`).toBeCloseTo(w, 6);
};

test('l2Norm', () => {
  expect(l2Norm(f32(3, 4))).toBe(5);
  expect(l2Norm(f32())).toBe(0);
  expect(l2Norm(new Float32Array(1_000_000).fill(0.5))).toBeCloseTo(500, 9); // float64 accumulation
});

test('mean', () => {
  expectClose(aggregate([f32(1, 2), f32(3, 4), f32(5, 9)], 'mean'), [3, 5]);
  expectClose(aggregate([f32(-1, 0.5)], 'mean'), [-1, 0.5]);
});

test('trimCount: floor(fraction·n), at least 1 from n = 3, 0 below, never all', () => {
  expect([1, 2, 3, 4, 5, 7, 8, 10, 20].map((n) => trimCount(n))).toEqual([0, 0, 1, 1, 1, 1, 2, 2, 5]);
  expect(trimCount(5, 0)).toBe(1);
  expect(trimCount(4, 0.49)).toBe(1); // floor(1.96) = 1, and n − 2k ≥ 1 holds
  expect(trimCount(3, 0.49)).toBe(1);
  expect(trimCount(100, 0.1)).toBe(10);
  expect(() => trimCount(5, 0.5)).toThrow(/trimFraction/);
  expect(() => trimCount(5, -0.1)).toThrow(/trimFraction/);
});

test('trimmed mean: hand-computed cases', () => {
  // n = 3, k = 1: the coordinate-wise median.
  expectClose(aggregate([f32(1, 10, 3), f32(2, -5, 4), f32(100, 0, 5)], 'trimmed-mean'), [2, 0, 4]);
  // n = 5, k = 1: drop each coordinate's min and max, average the middle three.
  const five = [f32(1, -3), f32(2, 7), f32(3, 1), f32(4, 0), f32(50, 2)];
  expectClose(aggregate(five, 'trimmed-mean'), [3, 1]); // (2+3+4)/3, (0+1+2)/3
  // n = 8, trimFraction 0.25: k = 2, the middle four of 1..8 (in scrambled order).
  const eight = [5, 1, 8, 3, 7, 2, 6, 4].map((v) => f32(v, -v));
  expectClose(aggregate(eight, 'trimmed-mean'), [4.5, -4.5]);
  // trimFraction 0.4 with n = 8: k = 3, the middle two.
  expectClose(aggregate(eight, 'trimmed-mean', { trimFraction: 0.4 }), [4.5, -4.5]);
  // n = 2: nothing trimmed, the mean.
  expectClose(aggregate([f32(1, 2), f32(3, 10)], 'trimmed-mean'), [2, 6]);
  // n = 40 takes the typed-array sort path: k = 10 from each end of 0..39, the mean of 10..29.
  const forty = Array.from({ length: 40 }, (_, i) => f32((i * 17) % 40));
  expectClose(aggregate(forty, 'trimmed-mean'), [19.5]);
});

test('median-norm-clip: hand-computed cases', () => {
  // Norms 5, 1, 2: median 2. [3, 4] is scaled to [1.2, 1.6]; the others are within the limit.
  const three = [f32(3, 4), f32(0, 1), f32(0, 2)];
  expectClose(aggregate(three, 'median-norm-clip'), [1.2 / 3, (1.6 + 1 + 2) / 3]);
  // clipFactor 2: limit 4, [3, 4] becomes [2.4, 3.2].
  expectClose(aggregate(three, 'median-norm-clip', { clipFactor: 2 }), [2.4 / 3, (3.2 + 1 + 2) / 3]);
  // Even n: norms 1, 2, 3, 10, median 2.5. [0, 3] → [0, 2.5], [6, 8] → [1.5, 2].
  const four = [f32(1, 0), f32(0, 2), f32(0, 3), f32(6, 8)];
  expectClose(aggregate(four, 'median-norm-clip'), [(1 + 1.5) / 4, (2 + 2.5 + 2) / 4]);
  // A zero update stays zero; equal norms are untouched (the plain mean).
  expectClose(aggregate([f32(0, 0), f32(1, 0), f32(0, 1)], 'median-norm-clip'), [1 / 3, 1 / 3]);
  expect(() => aggregate(three, 'median-norm-clip', { clipFactor: 0 })).toThrow(/clipFactor/);
});

test('one wildly bad update among 4–5: trimmed mean and median-norm-clip stay near the honest mean, the plain mean does not', () => {
  const n = 20_000;
  const base = randomUniform(n, 1);
  for (const honestCount of [3, 4]) {
    // Honest updates: a shared direction plus 10% independent noise each.
    const honest = Array.from({ length: honestCount }, (_, h) => {
      const noise = randomUniform(n, 10 + h, 0.1);
      return base.map((b, i) => b + noise[i]!);
    });
    const honestMean = aggregate(honest, 'mean');
    const rel = (v: Float32Array) => l2Norm(v.map((x, i) => x - honestMean[i]!)) / l2Norm(honestMean);
    const next = createRandom(99);
    const attacks: Record<string, Float32Array> = {
      'huge noise': randomUniform(n, 77, 1e4),
      'sign flip ×1000': base.map((b) => -1000 * b),
      'one coordinate 1e30': Float32Array.from(base, (b, i) => (i === 123 ? 1e30 : b * (1 + next() * 0.1))),
    };
    for (const [attack, bad] of Object.entries(attacks)) {
      const updates = [...honest.slice(0, 1), bad, ...honest.slice(1)];
      const label = `${honestCount} honest + ${attack}`;
      expect(rel(aggregate(updates, 'mean')), label).toBeGreaterThan(10);
      // Trimmed mean: the bad value is dropped in every coordinate, and what remains is a mean of
      // honest values; measured ≤ 0.05 (the honest noise is ±0.1 per coordinate on values of ±1).
      expect(rel(aggregate(updates, 'trimmed-mean')), label).toBeLessThan(0.15);
      // Median-norm-clip: the bad update is cut to about the honest norm, so it moves the mean by at
      // most ~1/n of it, plus the 1/n share it takes from the honest ones: ≤ 2/n = 0.4 (n = 5) or 0.5 (n = 4);
      // the sign flip reaches it (measured 0.401 and 0.501), hence the 0.02 of slack.
      expect(rel(aggregate(updates, 'median-norm-clip')), label).toBeLessThan(2 / updates.length + 0.02);
    }
  }
  expect(DEFAULT_AGGREGATION).toBe('trimmed-mean');
});

test('large vectors: trimmed mean of 5 × 1M floats matches a direct per-coordinate computation', () => {
  const n = 1_000_000;
  const updates = [1, 2, 3, 4, 5].map((s) => randomUniform(n, s));
  const got = aggregate(updates, 'trimmed-mean');
  let worst = 0;
  for (let i = 0; i < n; i += 997) {
    const vals = updates.map((u) => u[i]!).sort((a, b) => a - b);
    worst = Math.max(worst, Math.abs(got[i]! - (vals[1]! + vals[2]! + vals[3]!) / 3));
  }
  expect(worst).toBeLessThan(1e-7); // one f32 rounding of a value below 1
});

test('refuses an empty list, mismatched lengths and unknown rules', () => {
  for (const rule of ['mean', 'trimmed-mean', 'median-norm-clip'] as const) {
    expect(() => aggregate([], rule)).toThrow(/at least one update/);
    expect(() => aggregate([f32(1, 2), f32(1, 2, 3)], rule)).toThrow(/update 1 has 3 floats, update 0 has 2/);
  }
  expect(() => aggregate([f32(1)], 'median' as AggregationRule)).toThrow(/unknown aggregation rule median/);
});
