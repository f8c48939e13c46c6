import type { Comparison } from '../harness/compare';
import { expect, inPage, test } from '../harness/page';
import type { CrossEntropyCase } from './crossentropy.cases';
import { runnableVariants, variantName } from './variants';

const CASES = '/test/browser/crossentropy.cases.ts';

// Tolerances (the CPU reference works in f64 on the same f32 logits):
// losses and mean loss: |gpu − cpu| ≤ 1e-5 + 1e-6·|cpu|  (f32 exp/log and sums over V terms; losses of logits
//   ~1e3 reach ~2e3, where one f32 ulp is 1.2e-4, hence the relative term);
// dlogits: |gpu − cpu| ≤ (1e-6 + 1e-5·|cpu|/scale)·scale with scale = 1/rows, i.e. 1e-6 absolute on a probability.
const tol = { atol: 1e-5, rtol: 1e-6 };
const gradTol = { atol: 1e-6, rtol: 1e-5 };

// Every variant (subgroup or workgroup-memory reductions, CPU- or GPU-sized workgroups) on this adapter.
// V = 5000 gives the GPU shape its largest workgroup (1024 threads) with a partial last stride.
for (const V of [97, 1000, 5000]) {
  for (const rows of V > 1000 ? [3] : [1, 17, 100]) {
    test(`crossentropy rows=${rows} V=${V}: losses, mean and gradients match the CPU reference, in every variant`, async ({
      gpuPage,
    }) => {
      for (const variants of await runnableVariants(gpuPage)) {
        let seed = rows * 7 + V;
        for (const inPlace of [true, false]) {
          for (const [logitScale, dominant] of [
            [3, false],
            [1e3, true],
          ] as const) {
            const c: CrossEntropyCase = {
              rows,
              V,
              seed: seed++,
              logitScale,
              dominant,
              inPlace,
              tol,
              gradTol,
              variants,
            };
            const r = await inPage<Record<string, Comparison>>(gpuPage, CASES, 'crossEntropyCase', c);
            for (const [name, cmp] of Object.entries(r)) {
              const what = `${variantName(variants)}: ${name} inPlace=${inPlace} logits~${logitScale}: max abs err ${cmp.maxAbsErr} at ${cmp.at}`;
              expect.soft(cmp.worst, what).toBeLessThanOrEqual(1);
            }
          }
        }
      }
    });
  }
}

test('crossentropy: an out-of-range target on the GPU gives a NaN loss and no one-hot term', async ({ gpuPage }) => {
  const r = await inPage<{ losses: number[]; gradRowSum: number[] }>(gpuPage, CASES, 'crossEntropyBadTargetOnGpu');
  expect(r.losses[0]).toBe(-1); // NaN, mapped to −1 to survive JSON
  expect(r.losses[1]).toBeGreaterThan(0);
  expect(r.gradRowSum[0]).toBeCloseTo(1, 5);
  expect(r.gradRowSum[1]).toBeCloseTo(0, 5);
});

test('crossentropy rejects bad shapes, small buffers and out-of-range host targets', async ({ gpuPage }) => {
  const messages = await inPage<string[]>(gpuPage, CASES, 'crossEntropyRejects');
  expect(messages[0]).toMatch(/\[gpu:crossentropy_forward\] rows must be a positive integer, got 0/);
  expect(messages[1]).toMatch(/logits holds \d+ bytes, needs 12000 for rows=3 V=1000/);
  expect(messages[2]).toMatch(/target 4 at row 1 is not a class in \[0, 4\)/);
  expect(messages[3]).toMatch(/\[gpu:crossentropy_backward\] hostTargets has 2 entries, expected rows=3/);
});
