import { expectChecks } from '../harness/expect-checks';
import { expect, inPage, test } from '../harness/page';
import type { OutputCheck } from './run-kernels';

const CASES = '/test/browser/elementwise.cases.ts';

// Tolerance: none. Each output is one f32 addition or multiplication, correctly rounded on the
// GPU (WGSL requires it) and in the reference (f64 result, exact for these inputs, stored as f32).

test('add, addInto and scale match the CPU bit for bit for n = 1 … 70000', async ({ gpuPage }) => {
  for (const n of [1, 13, 257, 70_000]) {
    expectChecks(
      `n=${n}`,
      await inPage<OutputCheck[]>(gpuPage, CASES, 'elementwiseCase', { n, seed: n, factor: -0.37 }),
    );
  }
});

test('elementwise ops reject bad sizes and undersized buffers with clear errors', async ({ gpuPage }) => {
  const messages = await inPage<string[]>(gpuPage, CASES, 'elementwiseRejectsBadArgs');
  expect(messages[0]).toMatch(/\[gpu:scale\] n must be a positive integer, got 0/);
  expect(messages[1]).toMatch(/\[gpu:add\] a holds 256 bytes, needs 400 for n=100/);
});
