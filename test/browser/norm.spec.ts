import { expectChecks } from '../harness/expect-checks';
import { expect, type GpuPage, inPage, test } from '../harness/page';
import type { ReduceCase, ReduceCaseResult, SumBlocksCase } from './norm.cases';
import type { OutputCheck } from './run-kernels';
import { runnableVariants, variantName } from './variants';

const CASES = '/test/browser/norm.cases.ts';

// Tolerance: |gpu − cpu| ≤ 2e-6·|cpu|; the CPU reference sums in f64. The GPU sums in f32 in a
// fixed order: sequential adds per thread, then a tree or subgroup sum over the threads, then the
// same over the partials. The longest sequential run is a CPU adapter's: for n = 4.2M, 64
// workgroups of 64 threads, m ≈ 1000 adds per thread. Its bound m·2^-24 (6e-5) assumes every
// rounding goes the same way; independent roundings of a growing sum of positive terms give
// about 2^-24·√(m/3) ≈ 1.1e-6 of the sum of squares, half that after the square root, and the
// trees add at most log2(n)·2^-24 ≈ 1.3e-6. Measured, every variant on both emulators: 1.1e-7 at most.
const RTOL = 2e-6;

/** Runs a case in every variant this adapter has, each against the reference. */
async function expectCloseInEveryVariant(page: GpuPage, name: string, c: ReduceCase, what: string): Promise<void> {
  for (const variants of await runnableVariants(page)) {
    expectClose(
      await inPage<ReduceCaseResult>(page, CASES, name, { ...c, variants }),
      `${variantName(variants)}: ${what}`,
    );
  }
}

function expectClose(r: ReduceCaseResult, what: string): void {
  for (const got of r.got) {
    expect.soft(Math.abs(got - r.want), `${what}: got ${got}, want ${r.want}`).toBeLessThanOrEqual(RTOL * r.want);
  }
  expect.soft(new Set(r.got).size, `${what}: runs differ ${r.got.join(' ')}`).toBe(1); // deterministic
}

// 1 and 1000 take one workgroup; 100003 takes two stages. 4200007 is past the GPU shape's 4096
// partials of 1024 elements, so each stage-1 workgroup sums a larger chunk; it runs once, as it
// takes seconds here.
for (const [n, runs] of [
  [1, 2],
  [1000, 2],
  [100_003, 2],
  [4_200_007, 1],
] as const) {
  test(`global norm n=${n} matches the CPU reference${runs > 1 ? ' and repeats bit for bit' : ''}, in every variant`, async ({
    gpuPage,
  }) => {
    await expectCloseInEveryVariant(gpuPage, 'globalNormCase', { n, seed: n, runs }, `n=${n}`);
  });
}

test('reduceSum gives scale · Σ x (the mean with scale 1/n) in one and two stages', async ({ gpuPage }) => {
  for (const n of [17, 100_003]) {
    const c = { n, seed: 5, scale: 1 / n, runs: 2 };
    await expectCloseInEveryVariant(gpuPage, 'reduceSumCase', c, `n=${n}`);
  }
});

test('global norm rejects a bad length and an undersized buffer', async ({ gpuPage }) => {
  const messages = await inPage<string[]>(gpuPage, CASES, 'globalNormRejects');
  expect(messages[0]).toMatch(/\[gpu:global_norm\] n must be a positive integer, got 0/);
  expect(messages[1]).toMatch(/\[gpu:global_norm\] input holds \d+ bytes, needs 400000 for n=100000/);
});

// Column sums of [blocks, n] (bias gradients, LayerNorm's dgamma and dbeta): a few blocks, and many
// more than a GPU workgroup's 8 threads per output; n shorter and longer than a workgroup's outputs.
// Tolerance |gpu − cpu| ≤ 1e-6·√blocks + 1e-6·|cpu|: f32 sums of `blocks` values in [-1, 1] in
// another order than the f64 reference.
test('sumBlocksInto adds the column sums of blocks into dst, in every variant', async ({ gpuPage }) => {
  for (const variants of await runnableVariants(gpuPage)) {
    for (const [n, blocks, offset] of [
      [1, 1, 0],
      [77, 3, 5],
      [300, 1000, 0],
      [33, 17, 33],
    ] as const) {
      const c: SumBlocksCase = {
        n,
        blocks,
        offset,
        seed: n + blocks,
        atol: 1e-6 * Math.sqrt(blocks),
        rtol: 1e-6,
        variants,
      };
      expectChecks(
        `${variantName(variants)}: n=${n} blocks=${blocks} offset=${offset}`,
        await inPage<OutputCheck[]>(gpuPage, CASES, 'sumBlocksCase', c),
      );
    }
  }
});

test('a device without subgroups gets the workgroup-memory reductions, and refuses subgroup ones', async ({
  gpuPage,
}) => {
  const r = await inPage<{
    variants: { reductions: string; shapes: string };
    fallbackAdapter: boolean;
    sum: number;
    refused: string;
  }>(gpuPage, CASES, 'withoutSubgroups');
  expect(r.variants.reductions).toBe('workgroup');
  expect(r.variants.shapes).toBe(r.fallbackAdapter ? 'cpu' : 'gpu');
  expect(r.sum).toBe(500_500);
  expect(r.refused).toMatch(/subgroup reductions were asked for, but this device has no `subgroups` feature/);
});
