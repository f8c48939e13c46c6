// The exact matmul kernels the benchmarks and the trainer run: every tile the tuner can pick, on
// shapes aligned to every tile (the kernel without bounds checks, as the matmul benchmark runs it)
// and on odd shapes (with bounds checks), with each operand layout the GPT step uses.
import type { MatmulTiles } from '../../src/gpu';
import { expect, inPage, test } from '../harness/page';
import type { MatmulCase, MatmulCaseResult } from './gpu.cases';

const CASES = '/test/browser/gpu.cases.ts';

// Inputs are uniform in [-1, 1]; the CPU reference sums in f64.
// f32: |gpu − cpu| ≤ 1e-5 + 1e-5·|cpu|·√K, as in matmul.spec.ts.
const f32Tol = (K: number) => ({ atol: 1e-5, rtol: 1e-5 * Math.sqrt(K) });

/** M, K, N: a multiple of every candidate's TILE_M (≤ 128), TILE_K (≤ 32) and TILE_N (≤ 64), two workgroups or more each way. */
const ALIGNED: [number, number, number] = [256, 96, 128];
/** M, K, N: a multiple of no tile side, more than one workgroup each way, K not a multiple of 4. */
const ODD: [number, number, number] = [131, 45, 129];

/** The matmul benchmark's product, then the GPT step's: linear forward (+ residual), dW, dX and the tied head. */
const VARIANTS: { name: string; opts: Partial<MatmulCase> }[] = [
  { name: 'A·B', opts: {} },
  { name: 'A·B+bias', opts: { bias: true } },
  { name: 'C+=A·B+bias', opts: { bias: true, accumulate: true } },
  { name: 'C+=Aᵀ·B', opts: { transA: true, accumulate: true } },
  { name: 'A·Bᵀ', opts: { transB: true } },
];

const aligned = ([M, K, N]: [number, number, number], t: MatmulTiles) =>
  M % t.TILE_M === 0 && N % t.TILE_N === 0 && K % t.TILE_K === 0;

test('every tile candidate, aligned (no bounds checks) and odd, in every layout the benchmarks and the GPT step run, matches the CPU reference', async ({
  gpuPage,
}) => {
  const candidates = await gpuPage.evaluate(async () => {
    const { TILE_CANDIDATES } = await import('/src/gpu/index.ts' as string);
    return TILE_CANDIDATES as MatmulTiles[];
  });
  expect(candidates.length).toBeGreaterThan(0);
  let seed = 1;
  for (const tiles of candidates) {
    // The shapes take the paths they are meant to, for this tile.
    expect(aligned(ALIGNED, tiles), `${JSON.stringify(tiles)} divides ${ALIGNED}`).toBe(true);
    expect(aligned(ODD, tiles), `${JSON.stringify(tiles)} divides ${ODD}`).toBe(false);
    for (const [M, K, N] of [ALIGNED, ODD]) {
      for (const variant of VARIANTS) {
        const c: MatmulCase & { tiles: MatmulTiles } = {
          M,
          N,
          K,
          seed: seed++,
          path: 'tiled',
          tiles,
          ...variant.opts,
          ...f32Tol(K),
        };
        const r = await inPage<MatmulCaseResult>(gpuPage, CASES, 'matmulCase', c);
        const what = `${JSON.stringify(tiles)} ${M}x${K}x${N} ${variant.name}`;
        expect.soft(r.launch.tiles, what).toEqual(tiles);
        expect.soft(r.worst, `${what}: max abs err ${r.maxAbsErr}`).toBeLessThanOrEqual(1);
      }
    }
  }
});
