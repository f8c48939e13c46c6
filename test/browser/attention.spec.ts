import type { KernelVariants } from '../../src/gpu';
import { expect, inPage, test } from '../harness/page';
import type { AttentionCase, AttentionCaseResult } from './attention.cases';

const CASES = '/test/browser/attention.cases.ts';

// Tolerances, |gpu − cpu| ≤ atol + rtol·|cpu| (CPU reference in f64):
//   o and lse: atol 1e-5, rtol 1e-4       (one f32 dot product of length D, one softmax)
//   dq, dk, dv: atol 1e-4, rtol 1e-3      (sums over up to T rows of f32 products)
const tol = { atol: 1e-5, rtol: 1e-4 };
const gradTol = { atol: 1e-4, rtol: 1e-3 };

const SHAPES: { B: number; H: number; T: number; D: number; qkScale?: number }[] = [
  { B: 1, H: 1, T: 1, D: 16 }, // one row: attends only to itself
  { B: 2, H: 3, T: 17, D: 16 },
  { B: 1, H: 2, T: 100, D: 48 },
  { B: 2, H: 1, T: 17, D: 64 },
  { B: 1, H: 2, T: 70, D: 64 },
  { B: 1, H: 1, T: 33, D: 128 },
  { B: 1, H: 2, T: 45, D: 24, qkScale: 6 }, // scores up to ~±200: the online softmax must not overflow
];

/**
 * The kernels' forms, each run on every shape: CPU- or GPU-shaped workgroups, and each kernel's
 * walk (keys for the forward and dQ, queries for dK/dV) in one share or split. A GPU shape splits
 * small grids by itself, as all of these are; 3 forced splits give uneven and empty shares.
 */
const VARIANTS: { name: string; variants: Partial<KernelVariants>; splits?: number }[] = [
  { name: 'cpu shapes', variants: { shapes: 'cpu' } },
  { name: 'gpu shapes, splits chosen', variants: { shapes: 'gpu' } },
  { name: 'gpu shapes, no splits', variants: { shapes: 'gpu' }, splits: 1 },
  { name: 'cpu shapes, 3 splits', variants: { shapes: 'cpu' }, splits: 3 },
];

for (const s of SHAPES) {
  test(`flash attention B=${s.B} H=${s.H} T=${s.T} D=${s.D}${s.qkScale ? ` |qk|≤${s.qkScale}` : ''}: forward and backward match the CPU reference in every variant`, async ({
    gpuPage,
  }) => {
    for (const { name, variants, splits } of VARIANTS) {
      const c: AttentionCase = { ...s, seed: s.T * 100 + s.D, tol, gradTol, variants, splits };
      const r = await inPage<AttentionCaseResult>(gpuPage, CASES, 'attentionCase', c);
      for (const [output, cmp] of Object.entries(r.checks)) {
        expect.soft(cmp.worst, `${name}: ${output}: max abs err ${cmp.maxAbsErr} at ${cmp.at}`).toBeLessThanOrEqual(1);
      }
      // A CPU shape never splits by itself; a GPU shape splits these small grids wherever the walk
      // has more than one tile (every shape here but T = 1).
      const what = `${name}: splits`;
      if (splits !== undefined) expect.soft(r.splits, what).toBe(splits);
      else if (variants.shapes === 'cpu' || s.T === 1) expect.soft(r.splits, what).toBe(1);
      else expect.soft(r.splits, what).toBeGreaterThan(1);
    }
  });
}

test('the unfused baseline (matmul + causal softmax, T×T materialised) matches the CPU reference', async ({
  gpuPage,
}) => {
  for (const s of [
    { B: 1, H: 2, T: 17, D: 16 },
    { B: 2, H: 1, T: 70, D: 48 },
  ]) {
    const r = await inPage<AttentionCaseResult>(gpuPage, CASES, 'attentionCase', {
      ...s,
      seed: 7,
      tol,
      gradTol,
      unfused: true,
    });
    for (const [name, cmp] of Object.entries(r.checks)) {
      expect.soft(cmp.worst, `T=${s.T} ${name}: max abs err ${cmp.maxAbsErr} at ${cmp.at}`).toBeLessThanOrEqual(1);
    }
  }
});

test('attention rejects bad shapes with clear errors', async ({ gpuPage }) => {
  const messages = await inPage<string[]>(gpuPage, CASES, 'attentionRejects');
  expect(messages[0]).toMatch(/T must be a positive integer, got 0/);
  expect(messages[1]).toMatch(/head dimension 256 exceeds MAX_HEAD_DIM 128/);
  expect(messages[2]).toMatch(/q holds \d+ bytes, needs 1280/);
  expect(messages[3]).toMatch(/splits must be a positive integer, got 0/);
});
