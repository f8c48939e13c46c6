import matmulSource from '../../kernels/matmul.wgsl?raw';
import thinSource from '../../kernels/matmul_thin.wgsl?raw';
import { randomUniform } from '../util/random';
import { type Batch, type BatchProfile, type BufferRef, createBatch } from './batch';
import { adapterKey, type Gpu } from './device';
import { GpuError } from './errors';
import type { KernelSpec } from './pipelines';
import { unusedBinding } from './placeholder';
import { storage, upload } from './transfer';
import { uniforms } from './uniforms';
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

/** Both kernels' uniforms: the shape, and each operand's stride between the matrices of a batch (0: shared). */
const PARAMS = uniforms({ M: 'u32', N: 'u32', K: 'u32', strideA: 'u32', strideB: 'u32', strideC: 'u32' });

/** Tile candidates tried by tuneMatmul; each adapter keeps the fastest. */
export const TILE_CANDIDATES: MatmulTiles[] = [
  { TILE_M: 32, TILE_N: 32, TILE_K: 16, TM: 4 },
  { TILE_M: 32, TILE_N: 32, TILE_K: 32, TM: 4 },
  { TILE_M: 64, TILE_N: 64, TILE_K: 16, TM: 4 },
  { TILE_M: 64, TILE_N: 64, TILE_K: 16, TM: 8 },
  { TILE_M: 64, TILE_N: 64, TILE_K: 32, TM: 8 },
  { TILE_M: 128, TILE_N: 64, TILE_K: 16, TM: 8 },
];

// Until tiles are tuned or installed for the adapter: 128 threads, each 8 × 4 outputs.
const DEFAULT_TILES: MatmulTiles = { TILE_M: 64, TILE_N: 64, TILE_K: 16, TM: 8 };
const SMALL_TILES: MatmulTiles = { TILE_M: 32, TILE_N: 32, TILE_K: 16, TM: 4 };

/** The tiles installed on each device by useMatmulTiles (or tuneMatmul). */
const installedTiles = new WeakMap<Gpu, MatmulTiles>();

type WorkgroupLimit =
  | 'maxComputeInvocationsPerWorkgroup'
  | 'maxComputeWorkgroupSizeX'
  | 'maxComputeWorkgroupSizeY'
  | 'maxComputeWorkgroupStorageSize';

/** Why the tile cannot run on this adapter; empty when it can. */
function tileProblems(gpu: Gpu, t: MatmulTiles): string[] {
  const sizes = [t.TILE_M, t.TILE_N, t.TILE_K, t.TM];
  if (!sizes.every((x) => Number.isInteger(x) && x > 0))
    return ['TILE_M, TILE_N, TILE_K and TM must be positive integers'];
  const problems: string[] = [];
  if (t.TILE_N % 4 !== 0 || t.TILE_K % 4 !== 0 || t.TM % 4 !== 0)
    problems.push('TILE_N, TILE_K and TM must be multiples of 4');
  if (t.TILE_M % t.TM !== 0) problems.push('TILE_M must be a multiple of TM');
  const limits = gpu.limits;
  const threads = (t.TILE_N / 4) * (t.TILE_M / t.TM);
  const sharedBytes = (t.TILE_M * t.TILE_K + t.TILE_K * t.TILE_N) * 4;
  const within = (value: number, limit: WorkgroupLimit, what: string) => {
    if (value > limits[limit]) problems.push(`${what} ${value} exceed ${limit} ${limits[limit]}`);
  };
  within(threads, 'maxComputeInvocationsPerWorkgroup', 'threads');
  within(t.TILE_N / 4, 'maxComputeWorkgroupSizeX', 'threads along x');
  within(t.TILE_M / t.TM, 'maxComputeWorkgroupSizeY', 'threads along y');
  within(sharedBytes, 'maxComputeWorkgroupStorageSize', 'workgroup bytes');
  return problems;
}

export function tilesFit(gpu: Gpu, tiles: MatmulTiles): boolean {
  return tileProblems(gpu, tiles).length === 0;
}

/** Throws a GpuError that says which of the adapter's limits the tile breaks. */
function requireTilesFit(gpu: Gpu, tiles: MatmulTiles): void {
  const problems = tileProblems(gpu, tiles);
  if (problems.length > 0) {
    throw new GpuError('matmul', `tiles ${JSON.stringify(tiles)} do not fit this adapter: ${problems.join('; ')}`);
  }
}

/**
 * Makes `tiles` the tiled kernel's tile on this device from now on, e.g. a tile that
 * tuneMatmul measured on this adapter in an earlier session. Throws when it does not fit.
 */
export function useMatmulTiles(gpu: Gpu, tiles: MatmulTiles): void {
  const { TILE_M, TILE_N, TILE_K, TM } = tiles; // only the tile, whatever else a stored record holds
  const tile = { TILE_M, TILE_N, TILE_K, TM };
  requireTilesFit(gpu, tile);
  installedTiles.set(gpu, tile);
}

/** Picks the tile for a shape: the device's installed tile, or smaller tiles when big ones would leave the GPU idle. */
export function chooseTiles(gpu: Gpu, M: number, N: number, batch: number): MatmulTiles {
  const installed = installedTiles.get(gpu) ?? DEFAULT_TILES;
  const groups = Math.ceil(M / installed.TILE_M) * Math.ceil(N / installed.TILE_N) * batch;
  // Too few workgroups to fill the device: trade per-thread reuse for parallelism.
  return groups < 16 ? SMALL_TILES : installed;
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
  const params = PARAMS.pack({
    M,
    N,
    K,
    strideA: args.broadcastA ? 0 : M * K,
    strideB: args.broadcastB ? 0 : K * N,
    strideC: M * N,
  });
  const buffers = [args.a, args.b, args.bias ?? unusedBinding(gpu), args.c];

  let spec: KernelSpec;
  let workgroups: [number, number, number];
  let tiles: MatmulTiles | undefined;
  if (path === 'thin') {
    // The thin kernel accumulates in f32 registers: it has no f16 tiles to shrink.
    spec = {
      name: 'matmul_thin',
      source: thinSource,
      consts: { THREADS: THIN_THREADS, COLS: THIN_COLS, ...flags },
      uniforms: PARAMS,
    };
    workgroups = [Math.ceil(N / THIN_COLS), M, count];
  } else {
    tiles = args.tiles ?? chooseTiles(gpu, M, N, count);
    requireTilesFit(gpu, tiles);
    const aligned = M % tiles.TILE_M === 0 && N % tiles.TILE_N === 0 && K % tiles.TILE_K === 0;
    spec = {
      name: 'matmul',
      source: matmulSource,
      consts: { ...tiles, ...flags, CHECK_BOUNDS: !aligned },
      uniforms: PARAMS,
      f16: precision === 'f16',
    };
    workgroups = [Math.ceil(N / tiles.TILE_N), Math.ceil(M / tiles.TILE_M), count];
  }
  const pipeline = await gpu.pipelines.get(spec);
  batch.dispatch({ kernel: spec.name, pipeline, buffers, params, workgroups });
  return { path, precision: path === 'thin' ? 'f32' : precision, tiles };
}

/** A product to time tile candidates on: op(A) is M×K, op(B) is K×N. */
export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
}

/**
 * What tuneMatmul times by default: the model's two kinds of forward product at the tiny preset's
 * width (C = 64) over 512 rows (8 sequences of 64 tokens). Small, so that tuning takes seconds
 * on a software adapter, and all aligned to every candidate, so that each compiles one pipeline.
 */
export const TUNING_SHAPES: MatmulShape[] = [
  { M: 512, N: 192, K: 64 }, // attention's qkv projection, [B·T, C]·[C, 3C]
  { M: 512, N: 64, K: 256 }, // the MLP's projection back, [B·T, 4C]·[4C, C]
];
/** Timed passes per candidate; the median counts. */
const TUNING_RUNS = 3;

export interface TuneOptions {
  shapes?: MatmulShape[];
  /** The tiles to try, TILE_CANDIDATES by default; those that do not fit the adapter are left out. */
  candidates?: MatmulTiles[];
  runs?: number;
}

/** One candidate's median time for a pass over all the shapes. */
export interface TileTiming {
  tiles: MatmulTiles;
  ms: number;
}

/** What a caller keeps to reuse a tuning in a later session: plain JSON. */
export interface TunedTiles {
  /** adapterKey() of the adapter measured: reuse the tiles only on the same key. */
  adapter: string;
  tiles: MatmulTiles;
  /** 'timestamp': GPU time of the dispatches (timestamp-query); 'wallclock': submit to completion. */
  clock: 'timestamp' | 'wallclock';
  /** ISO 8601. */
  measuredAt: string;
}

export interface MatmulTuning {
  /** Every candidate that fits the adapter, fastest first. */
  ranking: TileTiming[];
  record: TunedTiles;
}

/**
 * Times every tile candidate that fits this adapter on `shapes`, installs the fastest on `gpu`
 * and returns the ranking and a record to keep. A pass runs the shapes in one batch, timed per
 * dispatch by timestamp queries when the device has timestamp-query, else by the wall clock.
 * Each candidate first runs one untimed pass, all at once so that their pipelines compile in
 * parallel; then the candidates take turns for `runs` timed passes, so that a change in load
 * affects all of them alike.
 */
export async function tuneMatmul(gpu: Gpu, options: TuneOptions = {}): Promise<MatmulTuning> {
  const shapes = options.shapes ?? TUNING_SHAPES;
  const runs = options.runs ?? TUNING_RUNS;
  requireSizes('matmul', { shapes: shapes.length, runs });
  for (const { M, N, K } of shapes) requireSizes('matmul', { M, N, K });
  const candidates = (options.candidates ?? TILE_CANDIDATES).filter((t) => tilesFit(gpu, t));
  if (candidates.length === 0) throw new GpuError('matmul', 'no tile candidate fits this adapter');

  // Operands big enough for every shape.
  const aFloats = Math.max(...shapes.map((s) => s.M * s.K));
  const bFloats = Math.max(...shapes.map((s) => s.K * s.N));
  const cFloats = Math.max(...shapes.map((s) => s.M * s.N));
  const a = upload(gpu, randomUniform(aFloats, 1), 'tune-a');
  const b = upload(gpu, randomUniform(bFloats, 2), 'tune-b');
  const c = storage(gpu, cFloats, 'tune-c');
  const pass = async (tiles: MatmulTiles): Promise<BatchProfile> => {
    const batch = createBatch(gpu, { label: 'tune-matmul', profile: true });
    for (const shape of shapes) await matmul(gpu, batch, { ...shape, a, b, c, tiles, path: 'tiled' });
    await batch.submit();
    return batch.profile();
  };
  const timed = candidates.map((tiles) => ({ tiles, ms: [] as number[] }));
  let clock: BatchProfile['clock'] = 'wallclock';
  try {
    await Promise.all(candidates.map(pass));
    for (let run = 0; run < runs; run++) {
      for (const candidate of timed) {
        const profile = await pass(candidate.tiles);
        candidate.ms.push(profile.totalNs / 1e6);
        clock = profile.clock;
      }
    }
  } finally {
    for (const buffer of [a, b, c]) gpu.pool.release(buffer);
  }
  const ranking = timed.map(({ tiles, ms }) => ({ tiles, ms: median(ms) })).sort((x, y) => x.ms - y.ms);
  const best = ranking[0]!.tiles; // there is at least one candidate
  useMatmulTiles(gpu, best);
  return {
    ranking,
    record: { adapter: adapterKey(gpu.adapter), tiles: best, clock, measuredAt: new Date().toISOString() },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}
