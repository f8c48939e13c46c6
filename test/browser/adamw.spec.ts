import type { Comparison } from '../harness/compare';
import { expect, inPage, test } from '../harness/page';
import type { AdamWCase } from './adamw.cases';

const CASES = '/test/browser/adamw.cases.ts';

// Tolerance: |gpu − cpu| ≤ atol + 1e-6·|cpu| for params, m and v after 3 steps. Both keep the
// state in f32; the CPU computes each update in f64, the GPU in f32.
// The atol covers values near zero: m where β1·m and (1 − β1)·g cancel (its rounding error follows
// the O(1) gradients, not m), parameters crossing zero, v of a tiny gradient.
const tol = {
  params: { atol: 1e-7, rtol: 1e-6 },
  m: { atol: 1e-7, rtol: 1e-6 },
  v: { atol: 1e-10, rtol: 1e-6 },
};
const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

/** Alternating decay / no-decay segments, like the weights and biases of a few layers (some empty when n is tiny). */
function mixedSegments(n: number) {
  const a = Math.floor(n * 0.3);
  const cuts = [0, a, a + 1, Math.max(a + 1, Math.floor(n * 0.7)), n];
  return cuts.slice(0, -1).map((offset, i) => ({ offset, length: cuts[i + 1]! - offset, decay: i % 2 === 0 }));
}

for (const n of [1, 1001, 70_001]) {
  test(`adamw n=${n}: 3 steps with mixed decay segments match the CPU reference, with and without clipping`, async ({
    gpuPage,
  }) => {
    // Gradients are uniform in [-1, 1], so ‖g‖ ≈ √(n/3): maxNorm = √n/4 always clips (for n > 1).
    for (const maxNorm of [undefined, Math.sqrt(n) / 4]) {
      const c: AdamWCase = { n, seed: n, steps: 3, segments: mixedSegments(n), hyper, maxNorm, tol };
      const r = await inPage<Record<string, Comparison>>(gpuPage, CASES, 'adamwCase', c);
      for (const [name, cmp] of Object.entries(r)) {
        expect
          .soft(cmp.worst, `${name} maxNorm=${maxNorm}: max abs err ${cmp.maxAbsErr} at ${cmp.at}`)
          .toBeLessThanOrEqual(1);
      }
    }
  });
}

test('decay segments are checked to tile [0, n) and packed as merged runs', async ({ gpuPage }) => {
  const r = await inPage<(number[] | string)[]>(gpuPage, CASES, 'decaySegmentEncodings');
  expect(r[0]).toEqual([0, 1, 2, 0, 6, 1]);
  expect(r[1]).toMatch(/\[gpu:adamw\] segments must cover \[0, 10\) exactly: gap at 4/);
  expect(r[2]).toMatch(/overlap at 5/);
  expect(r[3]).toMatch(/they end at 9/);
});

test('adamw rejects bad hyperparameters and mismatched sizes', async ({ gpuPage }) => {
  const messages = await inPage<string[]>(gpuPage, CASES, 'adamwRejects');
  expect(messages[0]).toMatch(/\[gpu:adamw\] step must be a positive integer, got 0/);
  expect(messages[1]).toMatch(/beta2 must be in \[0, 1\), got 1/);
  expect(messages[2]).toMatch(/segments cover 8 parameters, expected n=1000/);
  expect(messages[3]).toMatch(/clip.maxNorm must be finite and > 0, got 0/);
});
