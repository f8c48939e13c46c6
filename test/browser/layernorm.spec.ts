import { expectChecks } from '../harness/expect-checks';
import { expect, inPage, test } from '../harness/page';
import type { LayernormCase } from './layernorm.cases';
import type { OutputCheck } from './run-kernels';
import { runnableVariants, variantName } from './variants';

const CASES = '/test/browser/layernorm.cases.ts';

// Tolerances: |gpu − cpu| ≤ atol + rtol·|cpu|, the CPU reference in f64. Inputs are uniform
// (x in [-2, 2], the rest in [-1, 1]). f32 rounding grows with the length of a sum, so atol
// scales with √C (y, mean, rstd, dx: sums over a row) or √rows (dgamma, dbeta: sums over rows):
//   y, mean, rstd, dx:  atol 2e-6·√C,     rtol 2e-6
//   dgamma, dbeta:      atol 2e-6·√rows,  rtol 2e-6   (they start random, so the += is checked too)
// Measured, every variant on both emulators: at most 1/6 of these. C = 1 is the degenerate row (variance 0,
// rstd = 1/√eps ≈ 316, y = beta, dx = 0).
function tolerances(rows: number, C: number): LayernormCase['tol'] {
  const row = { atol: 2e-6 * Math.sqrt(C), rtol: 2e-6 };
  const column = { atol: 2e-6 * Math.sqrt(rows), rtol: 2e-6 };
  return { y: row, mean: row, rstd: row, dx: row, dgamma: column, dbeta: column };
}

// Every variant (subgroup or workgroup-memory reductions, CPU- or GPU-sized workgroups) on this adapter.
for (const rows of [1, 17, 100]) {
  test(`layernorm rows=${rows}: forward and backward match the CPU reference for C = 1, 13, 50, 77, 768, in every variant`, async ({
    gpuPage,
  }) => {
    for (const variants of await runnableVariants(gpuPage)) {
      for (const C of [1, 13, 50, 77, 768]) {
        for (const accumulateDx of [false, true]) {
          const c: LayernormCase = { rows, C, seed: rows * 1000 + C, accumulateDx, tol: tolerances(rows, C), variants };
          expectChecks(
            `${variantName(variants)}: rows=${rows} C=${C} accumulateDx=${accumulateDx}`,
            await inPage<OutputCheck[]>(gpuPage, CASES, 'layernormCase', c),
          );
        }
      }
    }
  });
}

// Every output starts as NaN, so a row the folded grid missed fails. C = 1 keeps it cheap and exact.
test('layernorm folds more rows than one grid dimension holds (70000 rows)', async ({ gpuPage }) => {
  const rows = 70_000,
    C = 1;
  const c: LayernormCase = { rows, C, seed: 7, accumulateDx: false, tol: tolerances(rows, C) };
  expectChecks(`rows=${rows} C=${C}`, await inPage<OutputCheck[]>(gpuPage, CASES, 'layernormCase', c));
});

test('layernorm rejects bad sizes and undersized buffers with clear errors', async ({ gpuPage }) => {
  const messages = await inPage<string[]>(gpuPage, CASES, 'layernormRejectsBadArgs');
  expect(messages[0]).toMatch(/\[gpu:layernorm_forward\] rows must be a positive integer, got 0/);
  expect(messages[1]).toMatch(/C must be a positive integer, got 2.5/);
  expect(messages[2]).toMatch(/x holds 256 bytes, needs 16384 for rows=64 C=64/);
});

test('layernorm backward passes in one batch share, and outgrow, the partials buffer correctly', async ({
  gpuPage,
}) => {
  const checks = await inPage<OutputCheck[]>(
    gpuPage,
    CASES,
    'layernormBackwardsShareScratch',
    tolerances(100, 77).dgamma,
  );
  expectChecks('small, large, small', checks);
});
