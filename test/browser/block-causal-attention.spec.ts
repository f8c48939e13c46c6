// The attention benchmark's block-causal baseline, work counts and output check.
import { attentionReference, checkAttention, swapMiddleAxes } from '../../bench/lib/attention-check';
import { attentionFlops, fullScores, keyBlockScores, queryBlockScores } from '../../bench/lib/attention-work';
import { OutputCheckError } from '../../bench/lib/check';
import { randomUniform } from '../../src/util/random';
import type { Comparison } from '../harness/compare';
import { expect, inPage, test } from '../harness/page';
import type { BlockCausalCase, UntouchedEntries } from './block-causal-attention.cases';

const CASES = '/test/browser/block-causal-attention.cases.ts';

// As test/browser/attention.spec.ts: |gpu − cpu| ≤ atol + rtol·|cpu|, the CPU reference in f64.
const tol = { atol: 1e-5, rtol: 1e-4 };
const gradTol = { atol: 1e-4, rtol: 1e-3 };

const SHAPES: Omit<BlockCausalCase, 'seed' | 'tol' | 'gradTol'>[] = [
  { B: 1, H: 2, T: 128, D: 64, BR: 32, BC: 32 }, // the benchmark's block on SwiftShader at D = 64
  { B: 2, H: 1, T: 100, D: 48, BR: 32, BC: 32 }, // T and D not multiples of the tiles
  { B: 1, H: 2, T: 70, D: 64, BR: 64, BC: 32 }, // taller query blocks than key blocks
  { B: 1, H: 1, T: 45, D: 24, BR: 16, BC: 8 },
];

for (const s of SHAPES) {
  test(`block-causal attention B=${s.B} H=${s.H} T=${s.T} D=${s.D} blocks ${s.BR}×${s.BC}: matches the CPU reference and computes only the blocks at or below the diagonal`, async ({
    gpuPage,
  }) => {
    const c: BlockCausalCase = { ...s, seed: s.T + s.BR, tol, gradTol };
    const r = await inPage<{
      comparisons: Record<string, Comparison>;
      probs: UntouchedEntries;
      dscores: UntouchedEntries;
    }>(gpuPage, CASES, 'blockCausalCase', c);
    for (const [name, cmp] of Object.entries(r.comparisons)) {
      expect.soft(cmp.worst, `${name}: max abs err ${cmp.maxAbsErr} at ${cmp.at}`).toBeLessThanOrEqual(1);
    }
    for (const [name, counts] of Object.entries({ probs: r.probs, dscores: r.dscores })) {
      expect.soft(counts.computed, `${name}: entries of computed blocks never written`).toBe(0);
      expect.soft(counts.skipped, `${name}: entries of skipped blocks all left unwritten`).toBe(counts.skippedTotal);
    }
    expect(r.probs.skippedTotal, 'the shape has blocks above the diagonal').toBeGreaterThan(0);
  });
}

test('the full unfused baseline in the block-causal tiles (as the benchmark runs it) matches the CPU reference and computes every block', async ({
  gpuPage,
}) => {
  for (const s of [SHAPES[0]!, SHAPES[1]!]) {
    const c: BlockCausalCase = { ...s, seed: s.T, tol, gradTol, full: true };
    const r = await inPage<{
      comparisons: Record<string, Comparison>;
      probs: UntouchedEntries;
      dscores: UntouchedEntries;
    }>(gpuPage, CASES, 'blockCausalCase', c);
    for (const [name, cmp] of Object.entries(r.comparisons)) {
      expect.soft(cmp.worst, `T=${s.T} ${name}: max abs err ${cmp.maxAbsErr} at ${cmp.at}`).toBeLessThanOrEqual(1);
    }
    expect.soft(r.probs.computed + r.probs.skipped, `T=${s.T} probs: entries never written`).toBe(0);
    expect.soft(r.dscores.computed + r.dscores.skipped, `T=${s.T} dscores: entries never written`).toBe(0);
  }
});

test('causal work counts: the blocks our kernels and the block-causal baseline compute', () => {
  // 4 query blocks of 32 over T = 128: 1 + 2 + 3 + 4 key blocks of 32×32.
  expect(queryBlockScores(128, 32, 32)).toBe(10 * 32 * 32);
  // T = 100, queries in blocks of 32, keys of 16: 32·32 + 32·64 + 32·96 + 4·100 (the last key block clipped to T).
  expect(queryBlockScores(100, 32, 16)).toBe(32 * 32 + 32 * 64 + 32 * 96 + 4 * 100);
  // Keys in blocks of 32 walk query blocks of 16 from the diagonal: 32·100 + 32·68 + 32·36 + 4·4.
  expect(keyBlockScores(100, 16, 32)).toBe(32 * 100 + 32 * 68 + 32 * 36 + 4 * 4);
  // Keys in blocks of 16 under query blocks of 32 start at the query block: 16·128 + 16·128 + 16·96 + …
  expect(keyBlockScores(128, 32, 16)).toBe(16 * (128 + 128 + 96 + 96 + 64 + 64 + 32 + 32));
  // A block as tall as T computes the whole matrix.
  expect(queryBlockScores(8, 64, 64)).toBe(64);
  expect(fullScores(8)).toEqual({ forward: 64, dq: 64, dkdv: 64 });
  // 2·D flops per entry per product: 2 products forward, 4 backward (dq once, dkdv's three).
  expect(attentionFlops(2, 4, { forward: 10, dq: 20, dkdv: 30 })).toEqual({
    forward: 2 * 2 * 4 * 2 * 10,
    backward: 2 * 4 * 2 * (20 + 3 * 30),
  });
});

test('the benchmark output check passes the reference and fails one wrong element of a sampled head', () => {
  const s = { B: 1, H: 3, T: 8, D: 4 };
  const n = s.B * s.H * s.T * s.D;
  const [q, k, v, dout] = [1, 2, 3, 4].map((seed) => randomUniform(n, seed)) as [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  const ref = attentionReference(s, q, k, v, dout);
  expect(Array.from(ref.heads), 'all heads at small T').toEqual([0, 1, 2]);
  const scatter = (values: Float32Array, indices: Uint32Array, size: number) => {
    const out = new Float32Array(size);
    for (const [j, i] of indices.entries()) out[i] = values[j]!;
    return out;
  };
  const got = {
    o: scatter(ref.o, ref.elements, n),
    lse: scatter(ref.lse, ref.rows, s.B * s.H * s.T),
    dq: scatter(ref.dq, ref.elements, n),
    dk: scatter(ref.dk, ref.elements, n),
    dv: scatter(ref.dv, ref.elements, n),
  };
  expect(() => checkAttention('exact', got, ref)).not.toThrow();
  got.dk[2 * s.T * s.D + 5]! += 1e-2;
  expect(() => checkAttention('perturbed', got, ref)).toThrow(OutputCheckError);
  expect(() => checkAttention('perturbed', got, ref)).toThrow(/perturbed dk: element 69 /);

  // At large T the reference covers a sample, but at least one head.
  const big = { B: 2, H: 1, T: 1100, D: 1 };
  const ones = new Float32Array(big.B * big.T).fill(0.5);
  expect(attentionReference(big, ones, ones, ones, ones).heads.length).toBe(1);
});

test('swapMiddleAxes moves between [B, H, T, D] and [B, T, H, D]', () => {
  // B = 1, H = 2, T = 3, D = 2: element (h, t, d) holds 100h + 10t + d.
  const headMajor = Float32Array.from(
    { length: 12 },
    (_, i) => 100 * Math.floor(i / 6) + 10 * (Math.floor(i / 2) % 3) + (i % 2),
  );
  const tokenMajor = swapMiddleAxes(headMajor, 1, 2, 3, 2);
  expect(Array.from(tokenMajor)).toEqual([0, 1, 100, 101, 10, 11, 110, 111, 20, 21, 120, 121]);
  expect(Array.from(swapMiddleAxes(tokenMajor, 1, 3, 2, 2))).toEqual(Array.from(headMajor));
});
