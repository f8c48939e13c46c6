import { expect, inPage, test } from '../harness/page';
import type { ReduceCaseResult } from './norm.cases';

const CASES = '/test/browser/norm.cases.ts';

// Tolerance: |gpu − cpu| ≤ 2e-6·|cpu|. The GPU sums in f32 in a fixed tree (a few sequential
// adds per thread, a 256-way tree per workgroup, then the partials), so rounding grows like
// log2(n)·2^-24 ≈ 1e-6 at worst for these sizes; the CPU reference sums in f64.
const RTOL = 2e-6;

function expectClose(r: ReduceCaseResult, what: string): void {
  for (const got of r.got) {
    expect.soft(Math.abs(got - r.want), `${what}: got ${got}, want ${r.want}`).toBeLessThanOrEqual(RTOL * r.want);
  }
  expect.soft(new Set(r.got).size, `${what}: runs differ ${r.got.join(' ')}`).toBe(1); // deterministic
}

// 1 and 1000 take one workgroup; 100003 takes two stages. 4200007 is past MAX_PARTIALS · 1024
// elements, so each stage-1 workgroup sums a larger chunk; it runs once, as it takes seconds here.
for (const [n, runs] of [
  [1, 2],
  [1000, 2],
  [100_003, 2],
  [4_200_007, 1],
] as const) {
  test(`global norm n=${n} matches the CPU reference${runs > 1 ? ' and repeats bit for bit' : ''}`, async ({
    gpuPage,
  }) => {
    expectClose(await inPage<ReduceCaseResult>(gpuPage, CASES, 'globalNormCase', { n, seed: n, runs }), `n=${n}`);
  });
}

test('reduceSum gives scale · Σ x (the mean with scale 1/n) in one and two stages', async ({ gpuPage }) => {
  for (const n of [17, 100_003]) {
    expectClose(
      await inPage<ReduceCaseResult>(gpuPage, CASES, 'reduceSumCase', { n, seed: 5, scale: 1 / n, runs: 2 }),
      `n=${n}`,
    );
  }
});

test('global norm rejects a bad length and an undersized buffer', async ({ gpuPage }) => {
  const messages = await inPage<string[]>(gpuPage, CASES, 'globalNormRejects');
  expect(messages[0]).toMatch(/\[gpu:global_norm\] n must be a positive integer, got 0/);
  expect(messages[1]).toMatch(/\[gpu:global_norm\] input holds \d+ bytes, needs 400000 for n=100000/);
});
