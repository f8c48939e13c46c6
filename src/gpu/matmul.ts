import matmulSource from '../../kernels/matmul.wgsl?raw';
import thinSource from '../../kernels/matmul_thin.wgsl?raw';
import { type Batch, type BufferRef, createBatch } from './batch';
import type { Gpu } from './device';
import { GpuError } from './errors';
import type { KernelSpec } from './pipelines';
import { unusedBinding } from './placeholder';
import { storage } from './transfer';
import { requireElements, requireSizes } from './validate';

/** Workgroup tile of the tiled kernel: TILE_M × TILE_N outputs, TILE_K deep, TM rows × 4 columns per thread. */
export interface MatmulTiles {
  TILE_M: number;
  TILE_N: number;
  TILE_K: number;
  TM: number;
}

/** C[b] = op(A[b]) · op(B[b]) (+ bias) (+ C[b]); op(A) is M×K, op(B) is K×N, C is M×N, all row-major f32. */
export interface MatmulArgs {
  a: BufferRef;
  b: BufferRef;
  c: BufferRef;
  M: number;
  N: number;
  K: number;
  /** Number of matrices; A or B may be shared by all of them (broadcastA/B). Default 1. */
  batch?: number;
  broadcastA?: boolean;
  broadcastB?: boolean;
  /** A is stored [K, M]. */
  transA?: boolean;
  /** B is stored [N, K]. */
  transB?: boolean;
  /** Length-N vector added to every row. */
  bias?: BufferRef;
  /** Adds into C instead of overwriting it (gradient accumulation). */
  accumulate?: boolean;
  /** 'f16' keeps tiles in f16 (accumulating in f32) where the device has shader-f16, else falls back to 'f32'. */
  precision?: 'f32' | 'f16';
  /** Forces a path or tile; normally chosen from the shape and the adapter. */
  path?: 'tiled' | 'thin';
  tiles?: MatmulTiles;
}

/** What was launched: tests check the fallback, benchmarks report it. */
export interface MatmulLaunch {
  path: 'tiled' | 'thin';
  precision: 'f32' | 'f16';
  tiles?: MatmulTiles;
}

/** Shapes whose smaller output side is at most this go to the thin (split-K) kernel. */
export const THIN_MAX_SIDE = 8;
const THIN_THREADS = 64;
const THIN_COLS = 4;

/** Tile candidates tried by tuneMatmul; each adapter keeps the fastest. */
export const TILE_CANDIDATES: MatmulTiles[] = [
  { TILE_M: 32, TILE_N: 32, TILE_K: 16, TM: 4 },
  { TILE_M: 32, TILE_N: 32, TILE_K: 32, TM: 4 },
  { TILE_M: 64, TILE_N: 64, TILE_K: 16, TM: 4 },
  { TILE_M: 64, TILE_N: 64, TILE_K: 16, TM: 8 },
  { TILE_M: 64, TILE_N: 64, TILE_K: 32, TM: 8 },
  { TILE_M: 128, TILE_N: 64, TILE_K: 16, TM: 8 },
];

// Until tuneMatmul measures this adapter: 128 threads, each 8 × 4 outputs.
const DEFAULT_TILES: MatmulTiles = { TILE_M: 64, TILE_N: 64, TILE_K: 16, TM: 8 };
const SMALL_TILES: MatmulTiles = { TILE_M: 32, TILE_N: 32, TILE_K: 16, TM: 4 };

/** Tuned tiles per adapter, filled by tuneMatmul(). */
const tunedTiles = new WeakMap<Gpu, MatmulTiles>();

export function tilesFit(gpu: Gpu, t: MatmulTiles): boolean {
  const threads = (t.TILE_N / 4) * (t.TILE_M / t.TM);
  const sharedBytes = (t.TILE_M * t.TILE_K + t.TILE_K * t.TILE_N) * 4;
  return (
    t.TILE_K % 4 === 0 &&
    t.TM % 4 === 0 &&
    t.TILE_M % t.TM === 0 &&
    threads <= gpu.limits.maxComputeInvocationsPerWorkgroup &&
    t.TILE_N / 4 <= gpu.limits.maxComputeWorkgroupSizeX &&
    t.TILE_M / t.TM <= gpu.limits.maxComputeWorkgroupSizeY &&
    sharedBytes <= gpu.limits.maxComputeWorkgroupStorageSize
  );
}

/** Picks the tile for a shape: the adapter's tuned tile, or smaller tiles when big ones would leave the GPU idle. */
export function chooseTiles(gpu: Gpu, M: number, N: number, batch: number): MatmulTiles {
  const tuned = tunedTiles.get(gpu) ?? DEFAULT_TILES;
  const groups = Math.ceil(M / tuned.TILE_M) * Math.ceil(N / tuned.TILE_N) * batch;
  // Too few workgroups to fill the device: trade per-thread reuse for parallelism.
  return groups < 16 ? SMALL_TILES : tuned;
}

function validate(args: MatmulArgs): void {
  const { M, N, K } = args;
  const batch = args.batch ?? 1;
  requireSizes('matmul', { M, N, K, batch });
  const shape = `M=${M} N=${N} K=${K} batch=${batch}`;
  const need = (label: string, buffer: BufferRef, floats: number) =>
    requireElements('matmul', label, buffer, floats, shape);
  need('A', args.a, M * K * (args.broadcastA ? 1 : batch));
  need('B', args.b, K * N * (args.broadcastB ? 1 : batch));
  need('C', args.c, M * N * batch);
  if (args.bias) need('bias', args.bias, N);
}

/** Records one (batched) matmul into `batch`. */
export async function matmul(gpu: Gpu, batch: Batch, args: MatmulArgs): Promise<MatmulLaunch> {
  validate(args);
  const { M, N, K } = args;
  const count = args.batch ?? 1;
  const precision = args.precision === 'f16' && gpu.has.f16 ? 'f16' : 'f32';
  const path = args.path ?? (Math.min(M, N) <= THIN_MAX_SIDE ? 'thin' : 'tiled');
  const flags = {
    TRANS_A: args.transA ?? false,
    TRANS_B: args.transB ?? false,
    HAS_BIAS: args.bias !== undefined,
    ACCUMULATE: args.accumulate ?? false,
  };
  const params = new Uint32Array([
    M,
    N,
    K,
    args.broadcastA ? 0 : M * K,
    args.broadcastB ? 0 : K * N,
    M * N,
    0,
    0, // pad to 32 bytes
  ]);
  const buffers = [args.a, args.b, args.bias ?? unusedBinding(gpu), args.c];

  let spec: KernelSpec;
  let workgroups: [number, number, number];
  let tiles: MatmulTiles | undefined;
  if (path === 'thin') {
    // The thin kernel accumulates in f32 registers: it has no f16 tiles to shrink.
    spec = { name: 'matmul_thin', source: thinSource, consts: { THREADS: THIN_THREADS, COLS: THIN_COLS, ...flags } };
    workgroups = [Math.ceil(N / THIN_COLS), M, count];
  } else {
    tiles = args.tiles ?? chooseTiles(gpu, M, N, count);
    if (!tilesFit(gpu, tiles))
      throw new GpuError('matmul', `tiles ${JSON.stringify(tiles)} do not fit this adapter's limits`);
    const aligned = M % tiles.TILE_M === 0 && N % tiles.TILE_N === 0 && K % tiles.TILE_K === 0;
    spec = {
      name: 'matmul',
      source: matmulSource,
      consts: { ...tiles, ...flags, CHECK_BOUNDS: !aligned },
      f16: precision === 'f16',
    };
    workgroups = [Math.ceil(N / tiles.TILE_N), Math.ceil(M / tiles.TILE_M), count];
  }
  const pipeline = await gpu.pipelines.get(spec);
  batch.dispatch({ kernel: spec.name, pipeline, buffers, params, workgroups });
  return { path, precision: path === 'thin' ? 'f32' : precision, tiles };
}

/**
 * Measures every tile candidate that fits this adapter on an M×K×N product and
 * keeps the fastest for later calls on `gpu`. Returns the timings in ms.
 */
export async function tuneMatmul(
  gpu: Gpu,
  shape: { M: number; N: number; K: number } = { M: 256, N: 256, K: 256 },
  repeats = 3,
): Promise<{ tiles: MatmulTiles; ms: number }[]> {
  const { M, N, K } = shape;
  const a = storage(gpu, M * K);
  const b = storage(gpu, K * N);
  const c = storage(gpu, M * N);
  const results: { tiles: MatmulTiles; ms: number }[] = [];
  try {
    for (const tiles of TILE_CANDIDATES.filter((t) => tilesFit(gpu, t))) {
      const times: number[] = [];
      for (let r = 0; r <= repeats; r++) {
        const batch = createBatch(gpu, { label: 'tune-matmul' });
        await matmul(gpu, batch, { a, b, c, M, N, K, tiles, path: 'tiled' });
        const t0 = performance.now();
        await batch.submit();
        await gpu.idle();
        if (r > 0) times.push(performance.now() - t0); // r = 0 warms up (compile, first run)
      }
      times.sort((x, y) => x - y);
      results.push({ tiles, ms: times[Math.floor(times.length / 2)]! });
    }
  } finally {
    for (const buffer of [a, b, c]) gpu.pool.release(buffer);
  }
  results.sort((x, y) => x.ms - y.ms);
  if (results[0]) tunedTiles.set(gpu, results[0].tiles);
  return results;
}
