import type { MatmulTiles } from '../../src/gpu';
import { expect, inPage, test } from '../harness/page';
import type { MatmulCase, MatmulCaseResult, TuningResult } from './gpu.cases';

const CASES = '/test/browser/gpu.cases.ts';

// Tolerances. Inputs are uniform in [-1, 1]; the CPU reference sums in f64.
// f32: |gpu − cpu| ≤ 1e-5 + 1e-5·|cpu|·√K  (f32 rounding grows with the length of the sum).
// f16: the same. A and B are rounded to f16 before the GPU and the CPU reference get them, and the
// kernels multiply and sum in f32 (a product of two f16 values is exact in f32), so the f16 path errs
// only by its inputs' rounding, which is the caller's. (The f16 path used to multiply f16 tiles in
// f16 and had 2e-2·√K, about 30× its error then.)
const f32Tol = (K: number) => ({ atol: 1e-5, rtol: 1e-5 * Math.sqrt(K) });

const SHAPES: [number, number, number][] = [
  // M, K, N
  [1, 1, 1],
  [7, 13, 5],
  [77, 129, 65],
  [255, 257, 63],
  [64, 64, 64],
  [128, 96, 200],
  [33, 300, 9],
];

/** Two tiles within WebGPU's default limits (256 threads, 16 KiB of workgroup memory), neither the default tile. */
const TWO_TILES: MatmulTiles[] = [
  { TILE_M: 128, TILE_N: 64, TILE_K: 16, TM: 8 },
  { TILE_M: 32, TILE_N: 32, TILE_K: 32, TM: 4 },
];
/** 2048 threads: more than any adapter allows. */
const TOO_MANY_THREADS: MatmulTiles = { TILE_M: 256, TILE_N: 256, TILE_K: 16, TM: 4 };

const VARIANTS: { name: string; opts: Partial<MatmulCase> }[] = [
  { name: 'A·B', opts: {} },
  { name: 'A·Bᵀ', opts: { transB: true } },
  { name: 'Aᵀ·B', opts: { transA: true } },
  { name: 'Aᵀ·Bᵀ', opts: { transA: true, transB: true } },
  { name: 'A·B+bias', opts: { bias: true } },
  { name: 'C+=A·B', opts: { accumulate: true } },
  { name: 'C+=A·Bᵀ+bias', opts: { transB: true, bias: true, accumulate: true } },
  { name: 'batch3 A·B', opts: { batch: 3 } },
  { name: 'batch3 A·shared B', opts: { batch: 3, broadcastB: true } },
];

/** Which operands the tiled kernel loads as aligned vec4: those whose stored rows are a multiple of 4 long. */
const vec4Loads = (c: MatmulCase) => ({ a: (c.transA ? c.M : c.K) % 4 === 0, b: (c.transB ? c.K : c.N) % 4 === 0 });

for (const [M, K, N] of SHAPES) {
  test(`matmul ${M}x${K}x${N}: every variant and both paths match the CPU reference`, async ({ gpuPage }) => {
    let seed = M * 1000 + N;
    for (const variant of VARIANTS) {
      for (const path of ['tiled', 'thin'] as const) {
        const c: MatmulCase = { M, N, K, seed: seed++, path, ...variant.opts, ...f32Tol(K) };
        const r = await inPage<MatmulCaseResult>(gpuPage, CASES, 'matmulCase', c);
        expect.soft(r.worst, `${variant.name} ${path}: max abs err ${r.maxAbsErr}`).toBeLessThanOrEqual(1);
        expect.soft(r.launch.path).toBe(path);
        if (path === 'tiled') expect.soft(r.launch.vec4, variant.name).toEqual(vec4Loads(c));
      }
    }
  });
}

test('matmul picks the thin path for thin outputs and the tiled path otherwise', async ({ gpuPage }) => {
  const thin = await inPage<MatmulCaseResult>(gpuPage, CASES, 'matmulCase', {
    M: 1,
    N: 300,
    K: 70,
    seed: 1,
    ...f32Tol(70),
  });
  const tall = await inPage<MatmulCaseResult>(gpuPage, CASES, 'matmulCase', {
    M: 300,
    N: 3,
    K: 70,
    seed: 2,
    ...f32Tol(70),
  });
  const square = await inPage<MatmulCaseResult>(gpuPage, CASES, 'matmulCase', {
    M: 40,
    N: 40,
    K: 40,
    seed: 3,
    ...f32Tol(40),
  });
  expect(thin.launch.path).toBe('thin');
  expect(tall.launch.path).toBe('thin');
  expect(square.launch.path).toBe('tiled');
  for (const r of [thin, tall, square]) expect(r.worst).toBeLessThanOrEqual(1);
});

// With timestamps, every candidate; by the wall clock, two of them and a tile that does not fit (to keep it short).
for (const withTimestamps of [true, false]) {
  test(`tuneMatmul ranks the fitting tiles by ${withTimestamps ? 'GPU timestamps' : 'the wall clock'}, installs the fastest and returns a record to keep`, async ({
    gpuPage,
  }) => {
    const candidates = withTimestamps ? undefined : [...TWO_TILES, TOO_MANY_THREADS];
    const r = await inPage<TuningResult>(gpuPage, CASES, 'matmulTuning', { withTimestamps, candidates });
    if (!withTimestamps) expect(r.fitting).toEqual(TWO_TILES);
    expect(r.ranking.map((t) => t.tiles)).toEqual(expect.arrayContaining(r.fitting));
    expect(r.ranking).toHaveLength(r.fitting.length);
    const times = r.ranking.map((t) => t.ms);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times[0]).toBeGreaterThan(0);
    expect(r.record).toEqual({
      adapter: r.adapterKey,
      tiles: r.ranking[0]?.tiles,
      parallelism: expect.any(Number),
      clock: withTimestamps && r.hasTimestamps ? 'timestamp' : 'wallclock',
      measuredAt: expect.any(String),
    });
    // Measured by doubling: a power of two.
    expect(Math.log2(r.record.parallelism) % 1).toBe(0);
    expect(Date.parse(r.record.measuredAt)).not.toBeNaN();
    expect(r.record.parallelism).toBeLessThanOrEqual(4096);
    expect(r.after.launch.tiles).toEqual(r.afterTiles);
    expect(r.after.worst).toBeLessThanOrEqual(1);
  });
}

test('useMatmulTiles installs a kept tile for later launches and rejects one that does not fit, or a parallelism below 1', async ({
  gpuPage,
}) => {
  const misaligned = { TILE_M: 64, TILE_N: 64, TILE_K: 16, TM: 6 };
  const r = await inPage<{ launches: MatmulCaseResult[]; rejected: string[]; afterRejection: MatmulCaseResult }>(
    gpuPage,
    CASES,
    'installedTilesAreUsed',
    { fitting: TWO_TILES, misfits: [TOO_MANY_THREADS, misaligned] },
  );
  expect(r.launches.map((l) => l.launch.tiles)).toEqual(TWO_TILES);
  for (const l of r.launches) expect(l.worst).toBeLessThanOrEqual(1);
  expect(r.rejected[0]).toMatch(
    /\[gpu:matmul\] tiles .* do not fit this adapter: threads 2048 exceed maxComputeInvocationsPerWorkgroup/,
  );
  expect(r.rejected[1]).toMatch(/TILE_K and TM must be multiples of 4; TILE_M must be a multiple of TM/);
  expect(r.rejected[2]).toMatch(/\[gpu:matmul\] parallelism must be a positive integer, got 0/);
  expect(r.afterRejection.launch.tiles).toEqual(TWO_TILES[1]);
});

/** The f16 path's cases: every layout, bias and accumulation, a shared operand; odd and vec4 shapes. */
const F16_VARIANTS = VARIANTS.filter((v) => !['A·B+bias', 'C+=A·B', 'batch3 A·B'].includes(v.name));
const F16_SHAPES: [number, number, number][] = [
  [77, 129, 65], // element by element, with bounds checks
  [128, 96, 200], // vec4, with bounds checks
];

test('f16 path: A and B stored as f16 match the CPU reference on the same f16 values, in every layout and both paths', async ({
  gpuPage,
}) => {
  const { has } = await inPage<{ has: { f16: boolean } }>(gpuPage, CASES, 'adapterSummary');
  test.skip(!has.f16, 'this adapter has no shader-f16 (SwiftShader): the next test checks the refusal');
  let seed = 500;
  let worstErr = 0;
  for (const [M, K, N] of F16_SHAPES) {
    for (const variant of F16_VARIANTS) {
      for (const path of ['tiled', 'thin'] as const) {
        const c: MatmulCase = { M, N, K, seed: seed++, path, precision: 'f16', ...variant.opts, ...f32Tol(K) };
        const r = await inPage<MatmulCaseResult>(gpuPage, CASES, 'matmulCase', c);
        const what = `${M}x${K}x${N} ${variant.name} ${path}`;
        expect.soft(r.launch.precision, what).toBe('f16');
        expect.soft(r.worst, `${what}: max abs err ${r.maxAbsErr}`).toBeLessThanOrEqual(1);
        worstErr = Math.max(worstErr, r.maxAbsErr);
      }
    }
  }
  console.log(`f16 path: largest |gpu − cpu| over every case ${worstErr.toExponential(2)}`);
});

test('f16 path: a device without shader-f16 refuses it with a clear error', async ({ gpuPage }) => {
  const c: MatmulCase = { M: 77, N: 65, K: 129, seed: 11, precision: 'f16', path: 'tiled', ...f32Tol(129) };
  const message = await inPage<string>(gpuPage, CASES, 'matmulF16WithoutShaderF16', c);
  expect(message).toMatch(/\[gpu:matmul\] precision 'f16' needs shader-f16, which this device lacks/);
});

test('operands bound as ranges are widened to whole vec4s; a buffer that ends inside one is refused', async ({
  gpuPage,
}) => {
  const r = await inPage<{ worst: number; refused: string }>(gpuPage, CASES, 'matmulOnTightBindings');
  expect(r.worst).toBeLessThanOrEqual(1);
  expect(r.refused).toMatch(
    /\[gpu:matmul\] A is read in vec4s of 16 bytes: its buffer must extend to 368 bytes from offset 0, not 364/,
  );
});

test('matmul rejects bad shapes and undersized buffers with clear errors', async ({ gpuPage }) => {
  const messages = await inPage<string[]>(gpuPage, CASES, 'matmulRejectsBadArgs');
  expect(messages[0]).toMatch(/\[gpu:matmul\] M must be a positive integer, got 0/);
  expect(messages[1]).toMatch(/M must be a positive integer, got 1.5/);
  expect(messages[2]).toMatch(/A holds \d+ bytes, needs 16384/);
});
