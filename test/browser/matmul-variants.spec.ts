// The exact matmul kernels the benchmarks and the trainer run: every tile the tuner can pick, forced
// on, in each operand layout the GPT step uses (forward, weight gradient Aᵀ·B, input gradient A·Bᵀ),
// on a shape aligned to every tile (vec4 loads, no bounds checks, as the matmul benchmark runs) and
// an odd one (bounds checks, every operand element by element). matmul.spec.ts runs the other load
// paths (vec4 with bounds checks, vec4 for one operand only) with the launcher's tile.
import { type MatmulTiles, TILE_CANDIDATES } from '../../src/gpu/matmul-tiles';
import { expect, inPage, test } from '../harness/page';
import type { MatmulCase, MatmulCaseResult } from './gpu.cases';

const CASES = '/test/browser/gpu.cases.ts';

// Inputs are uniform in [-1, 1]; the CPU reference sums in f64.
// f32: |gpu − cpu| ≤ 1e-5 + 1e-5·|cpu|·√K, as in matmul.spec.ts.
const f32Tol = (K: number) => ({ atol: 1e-5, rtol: 1e-5 * Math.sqrt(K) });

type Shape = [M: number, K: number, N: number];
/** A multiple of every candidate's TILE_M (≤ 128), TILE_K (≤ 32) and TILE_N (≤ 128), two workgroups or more of most. */
const ALIGNED: Shape = [256, 96, 128];
/** A multiple of no tile side, and no side a multiple of 4. */
const ODD: Shape = [131, 45, 129];

/** The three layouts on each shape, with bias and accumulation spread over them. */
const SHAPES: { shape: Shape; variants: { name: string; opts: Partial<MatmulCase> }[] }[] = [
  {
    shape: ALIGNED,
    variants: [
      { name: 'A·B+bias', opts: { bias: true } },
      { name: 'C+=Aᵀ·B', opts: { transA: true, accumulate: true } },
      { name: 'A·Bᵀ', opts: { transB: true } },
    ],
  },
  {
    shape: ODD,
    variants: [
      { name: 'C+=A·B+bias', opts: { bias: true, accumulate: true } },
      { name: 'Aᵀ·B', opts: { transA: true } },
      { name: 'C+=A·Bᵀ+bias', opts: { transB: true, bias: true, accumulate: true } },
    ],
  },
];

const aligned = ([M, K, N]: Shape, t: MatmulTiles) => M % t.TILE_M === 0 && N % t.TILE_N === 0 && K % t.TILE_K === 0;
const tileName = (t: MatmulTiles) => `${t.TILE_M}x${t.TILE_N}x${t.TILE_K}/TM${t.TM}`;

for (const [index, tiles] of TILE_CANDIDATES.entries()) {
  test(`tile candidate ${tileName(tiles)}, forced on, in every layout of the GPT step, aligned and odd, matches the CPU reference`, async ({
    gpuPage,
  }) => {
    // Each case compiles a pipeline of its own: seconds each on a CPU adapter.
    test.setTimeout(300_000);
    // The shapes take the paths they are meant to, for this tile.
    expect(aligned(ALIGNED, tiles), `${tileName(tiles)} divides ${ALIGNED}`).toBe(true);
    expect(aligned(ODD, tiles), `${tileName(tiles)} divides ${ODD}`).toBe(false);
    let seed = 100 * index;
    for (const { shape, variants } of SHAPES) {
      const [M, K, N] = shape;
      for (const variant of variants) {
        const c: MatmulCase = { M, N, K, seed: seed++, path: 'tiled', tiles, ...variant.opts, ...f32Tol(K) };
        const r = await inPage<MatmulCaseResult>(gpuPage, CASES, 'matmulCase', c);
        const what = `${M}x${K}x${N} ${variant.name}`;
        expect.soft(r.launch.tiles, what).toEqual(tiles);
        const vec4 = { a: (c.transA ? M : K) % 4 === 0, b: (c.transB ? K : N) % 4 === 0 };
        expect.soft(r.launch.vec4, what).toEqual(vec4);
        expect.soft(r.worst, `${what}: max abs err ${r.maxAbsErr}`).toBeLessThanOrEqual(1);
      }
    }
  });
}
