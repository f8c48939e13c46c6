import { expectChecks } from '../harness/expect-checks';
import { expect, inPage, test } from '../harness/page';
import type { EmbeddingCase } from './embedding.cases';
import type { OutputCheck } from './run-kernels';

const CASES = '/test/browser/embedding.cases.ts';

// Tolerances, the CPU reference in f64 (inputs uniform in [-1, 1]):
//   out = wte[token] + wpe[t] is one f32 addition, correctly rounded on both sides: exact.
//   dwte and dwpe are sums over up to B·T rows added into random starting values:
//   |gpu − cpu| ≤ 1e-6·√(B·T) + 1e-6·|cpu|.
const tol = (B: number, T: number) => ({ atol: 1e-6 * Math.sqrt(B * T), rtol: 1e-6 });

const SHAPES: (Omit<EmbeddingCase, 'seed' | 'atol' | 'rtol'> & { name: string })[] = [
  { name: 'one token, C=1', B: 1, T: 1, C: 1, V: 1, maxT: 1 },
  { name: 'odd sizes', B: 2, T: 17, C: 13, V: 50, maxT: 20 },
  { name: 'small vocabulary, many repeats', B: 4, T: 25, C: 77, V: 10, maxT: 32 },
  { name: 'large vocabulary, most ids unused', B: 3, T: 7, C: 50, V: 1000, maxT: 7 },
  { name: 'one token id everywhere', B: 4, T: 25, C: 5, V: 30, maxT: 25, vocabUsed: 1 },
];

test('embedding forward and backward match the CPU reference', async ({ gpuPage }) => {
  for (const [i, { name, ...shape }] of SHAPES.entries()) {
    const c: EmbeddingCase = { ...shape, seed: 100 * i, ...tol(shape.B, shape.T) };
    expectChecks(name, await inPage<OutputCheck[]>(gpuPage, CASES, 'embeddingCase', c));
  }
});

test('embedding rejects out-of-range tokens, too many positions and undersized buffers', async ({ gpuPage }) => {
  const messages = await inPage<string[]>(gpuPage, CASES, 'embeddingRejectsBadArgs');
  expect(messages[0]).toMatch(/\[gpu:embedding_backward\] token id 8 at position 2 is not below the vocabulary size 8/);
  expect(messages[1]).toMatch(/tokens has 2 ids, expected B·T = 4/);
  expect(messages[2]).toMatch(/\[gpu:embedding_forward\] T=5 exceeds the 4 positions of wpe/);
  expect(messages[3]).toMatch(/wte holds 256 bytes, needs 800 for B=1 T=4 C=2 V=100 maxT=4/);
});
