import type { HeadShape } from '../../src/gpu';
import { expectChecks } from '../harness/expect-checks';
import { expect, inPage, test } from '../harness/page';
import type { OutputCheck } from './run-kernels';

const CASES = '/test/browser/heads.cases.ts';

// Tolerance: none. The permutes copy values, so every element must match bit for bit
// (outputs start as NaN, so an element the kernel skipped fails too).

const SHAPES: HeadShape[] = [
  { B: 2, T: 3, H: 3, D: 5 },
  { B: 1, T: 1, H: 2, D: 3 },
  { B: 3, T: 17, H: 4, D: 8 },
  { B: 1, T: 5, H: 1, D: 1 },
];

test('splitQkv, joinQkv, mergeHeads and splitHeads match the CPU reference exactly', async ({ gpuPage }) => {
  for (const [i, shape] of SHAPES.entries()) {
    expectChecks(
      JSON.stringify(shape),
      await inPage<OutputCheck[]>(gpuPage, CASES, 'headsCase', { ...shape, seed: 10 * i }),
    );
  }
});

test('the permutes reject bad sizes and undersized buffers with clear errors', async ({ gpuPage }) => {
  const messages = await inPage<string[]>(gpuPage, CASES, 'headsRejectsBadArgs');
  expect(messages[0]).toMatch(/\[gpu:merge_heads\] T must be a positive integer, got 0/);
  expect(messages[1]).toMatch(/\[gpu:split_qkv\] qkv holds 256 bytes, needs 384 for B=1 T=8 H=1 D=4/);
});
