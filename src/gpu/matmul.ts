import matmulSource from '../../kernels/matmul.wgsl?raw';
import thinSource from '../../kernels/matmul_thin.wgsl?raw';
import { randomUniform } from '../util/random';
import { type Batch, type BatchProfile, type BufferRef, byteSize, createBatch } from './batch';
import { adapterKey, type Gpu } from './device';
import { GpuError } from './errors';
import { DEFAULT_TILES, type MatmulTiles, SMALL_TILES, TILE_CANDIDATES } from './matmul-tiles';
import type { KernelSpec } from './pipelines';
import { unusedBinding } from './placeholder';
import { STORAGE, storage, upload } from './transfer';
import { uniforms } from './uniforms';
import { requireSizes } from './validate';

export { type MatmulTiles, SMALL_TILES, TILE_CANDIDATES } from './matmul-tiles';

/** C[b] = op(A[b]) · op(B[b]) (+ bias) (+ C[b]); op(A) is M×K, op(B) is K×N, C is M×N, all row-major. */
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
  /** Length-N f32 vector added to every row. */
  bias?: BufferRef;
  /** Adds into C instead of overwriting it (gradient accumulation). */
  accumulate?: boolean;
  /**
   * How A and B are stored: 'f32', or 'f16' (2 bytes a value, e.g. from packF16): half the bytes
   * to load and to keep in workgroup memory. Needs shader-f16 (gpu.has.f16). Products, sums, bias
   * and C are f32 either way.
   */
  precision?: 'f32' | 'f16';
  /** Forces a path or tile; normally chosen from the shape and the adapter. */
  path?: 'tiled' | 'thin';
  tiles?: MatmulTiles;
}

/** What was launched: tests check the choices, benchmarks report them. */
export interface MatmulLaunch {
  path: 'tiled' | 'thin';
  precision: 'f32' | 'f16';
  tiles?: MatmulTiles;
  /** Tiled path: which operands loaded as aligned vec4 (rows a multiple of 4 long), not element by element. */
  vec4?: { a: boolean; b: boolean };
}

/** Shapes whose smaller output side is at most this go to the thin (split-K) kernel. */
export const THIN_MAX_SIDE = 8;
const THIN_THREADS = 64;
const THIN_COLS = 4;

/** Both kernels' uniforms: the shape, and each operand's stride between the matrices of a batch (0: shared). */
const PARAMS = uniforms({ M: 'u32', N: 'u32', K: 'u32', strideA: 'u32', strideB: 'u32', strideC: 'u32' });

/** The tiled kernel's settings on one device: its tile and how many workgroups it takes to fill the adapter. */
interface TileSetup {
  tiles: MatmulTiles;
  /** Workgroups the adapter runs at once (tuneMatmul measures it); fewer leave it partly idle. */
  parallelism: number;
}

/** The setups installed on each device by useMatmulTiles (or tuneMatmul). */
const installedSetups = new WeakMap<Gpu, TileSetup>();

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
  if (t.TILE_N % 8 !== 0) problems.push('TILE_N must be a multiple of 8');
  if (t.TILE_K % 4 !== 0 || t.TM % 4 !== 0) problems.push('TILE_K and TM must be multiples of 4');
  if (t.TILE_M % t.TM !== 0) problems.push('TILE_M must be a multiple of TM');
  const limits = gpu.limits;
  const threads = (t.TILE_N / 8) * (t.TILE_M / t.TM);
  // f32 tiles: the f16 path needs half of it.
  const sharedBytes = (t.TILE_M * t.TILE_K + t.TILE_K * t.TILE_N) * 4;
  const within = (value: number, limit: WorkgroupLimit, what: string) => {
    if (value > limits[limit]) problems.push(`${what} ${value} exceed ${limit} ${limits[limit]}`);
  };
  within(threads, 'maxComputeInvocationsPerWorkgroup', 'threads');
  within(t.TILE_N / 8, 'maxComputeWorkgroupSizeX', 'threads along x');
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

/** Workgroups a GPU is taken to run at once until measured: about 100 compute units, several each. */
const GPU_ASSUMED_PARALLELISM = 512;

/**
 * Workgroups the adapter is taken to run at once until tuneMatmul measures it: a CPU implementation
 * (the adapter says it is a fallback adapter) runs one workgroup per core, a GPU hundreds.
 */
export function assumedParallelism(gpu: Gpu): number {
  if (!gpu.adapter.isFallbackAdapter) return GPU_ASSUMED_PARALLELISM;
  const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : undefined;
  return Math.max(1, cores ?? 1);
}

/**
 * Makes `tiles` the tiled kernel's tile on this device from now on, and `parallelism` the workgroups
 * below which a product falls back to small tiles: e.g. what tuneMatmul measured on this adapter in
 * an earlier session. Throws when the tile does not fit or the parallelism is not a positive integer.
 */
export function useMatmulTiles(gpu: Gpu, tiles: MatmulTiles, parallelism = assumedParallelism(gpu)): void {
  const { TILE_M, TILE_N, TILE_K, TM } = tiles; // only the tile, whatever else a stored record holds
  const tile = { TILE_M, TILE_N, TILE_K, TM };
  requireTilesFit(gpu, tile);
  requireSizes('matmul', { parallelism });
  installedSetups.set(gpu, { tiles: tile, parallelism });
}

function installedSetup(gpu: Gpu): TileSetup {
  return installedSetups.get(gpu) ?? { tiles: DEFAULT_TILES, parallelism: assumedParallelism(gpu) };
}

/** The setup's tile, or small tiles when its workgroups could not fill the adapter. */
function tilesFor(setup: TileSetup, M: number, N: number, batch: number): MatmulTiles {
  const { tiles, parallelism } = setup;
  const groups = Math.ceil(M / tiles.TILE_M) * Math.ceil(N / tiles.TILE_N) * batch;
  // Too few workgroups to keep the adapter busy: trade per-thread reuse for parallelism.
  return groups < parallelism ? SMALL_TILES : tiles;
}

/** Picks the tile for a shape: the device's installed tile, or smaller tiles when big ones would leave the GPU idle. */
export function chooseTiles(gpu: Gpu, M: number, N: number, batch: number): MatmulTiles {
  return tilesFor(installedSetup(gpu), M, N, batch);
}

/** Bytes of one stored A or B value, and of all that A and B hold for the product. */
function operandBytes(args: MatmulArgs): { value: number; a: number; b: number } {
  const batch = args.batch ?? 1;
  const value = args.precision === 'f16' ? 2 : 4;
  const a = args.M * args.K * (args.broadcastA ? 1 : batch) * value;
  const b = args.K * args.N * (args.broadcastB ? 1 : batch) * value;
  return { value, a, b };
}

function validate(gpu: Gpu, args: MatmulArgs): void {
  const { M, N, K } = args;
  const batch = args.batch ?? 1;
  requireSizes('matmul', { M, N, K, batch });
  if (args.precision === 'f16' && !gpu.has.f16) {
    throw new GpuError('matmul', "precision 'f16' needs shader-f16, which this device lacks: store A and B as f32");
  }
  const shape = `M=${M} N=${N} K=${K} batch=${batch}`;
  const need = (label: string, buffer: BufferRef, bytes: number) => {
    if (byteSize(buffer) < bytes)
      throw new GpuError('matmul', `${label} holds ${byteSize(buffer)} bytes, needs ${bytes} for ${shape}`);
  };
  const operands = operandBytes(args);
  need('A', args.a, operands.a);
  need('B', args.b, operands.b);
  need('C', args.c, M * N * batch * 4);
  if (args.bias) need('bias', args.bias, N * 4);
}

/**
 * The tiled kernel binds A and B as arrays of vec4: `ref` widened, where its buffer allows, to whole
 * vec4s over its first `bytes`, so that a last value outside a whole vec4 is still in the array.
 */
function vec4Binding(label: string, ref: BufferRef, bytes: number, vec4Bytes: number): BufferRef {
  const needed = Math.ceil(bytes / vec4Bytes) * vec4Bytes;
  if (byteSize(ref) >= needed) return ref;
  const buffer = 'buffer' in ref ? ref.buffer : ref;
  const offset = 'buffer' in ref ? (ref.offset ?? 0) : 0;
  if (buffer.size - offset < needed) {
    throw new GpuError(
      'matmul',
      `${label} is read in vec4s of ${vec4Bytes} bytes: its buffer must extend to ${needed} bytes from offset ${offset}, ` +
        `not ${buffer.size - offset} (pool buffers do)`,
    );
  }
  return { buffer, offset, size: needed };
}

/** The layout and epilogue flags both kernels are specialised for. */
function matmulFlags(args: Pick<MatmulArgs, 'transA' | 'transB' | 'bias' | 'accumulate'>) {
  return {
    TRANS_A: args.transA ?? false,
    TRANS_B: args.transB ?? false,
    HAS_BIAS: args.bias !== undefined,
    ACCUMULATE: args.accumulate ?? false,
  };
}

/**
 * The tiled kernel's constants (kernels/matmul.wgsl) for a product in `tiles`: its flags, whether
 * each operand loads as aligned vec4 (its stored rows are a multiple of 4 long), and whether edge
 * checks can go (every side a multiple of the tile). Exported for kernels patched from it (the
 * block-causal attention baseline).
 */
export function tiledMatmulConsts(
  args: Pick<MatmulArgs, 'M' | 'N' | 'K' | 'transA' | 'transB' | 'bias' | 'accumulate'>,
  tiles: MatmulTiles,
) {
  const { M, N, K } = args;
  return {
    ...tiles,
    ...matmulFlags(args),
    VEC_A: (args.transA ? M : K) % 4 === 0,
    VEC_B: (args.transB ? K : N) % 4 === 0,
    CHECK_BOUNDS: !(M % tiles.TILE_M === 0 && N % tiles.TILE_N === 0 && K % tiles.TILE_K === 0),
  };
}

/** Records one (batched) matmul into `batch`. */
export async function matmul(gpu: Gpu, batch: Batch, args: MatmulArgs): Promise<MatmulLaunch> {
  validate(gpu, args);
  const { M, N, K } = args;
  const count = args.batch ?? 1;
  const precision = args.precision ?? 'f32';
  const path = args.path ?? (Math.min(M, N) <= THIN_MAX_SIDE ? 'thin' : 'tiled');
  const flags = matmulFlags(args);
  const params = PARAMS.pack({
    M,
    N,
    K,
    strideA: args.broadcastA ? 0 : M * K,
    strideB: args.broadcastB ? 0 : K * N,
    strideC: M * N,
  });
  const f16 = precision === 'f16';
  const bias = args.bias ?? unusedBinding(gpu);

  if (path === 'thin') {
    const spec: KernelSpec = {
      name: 'matmul_thin',
      source: thinSource,
      consts: { THREADS: THIN_THREADS, COLS: THIN_COLS, ...flags },
      uniforms: PARAMS,
      f16,
    };
    const pipeline = await gpu.pipelines.get(spec);
    const workgroups: [number, number, number] = [Math.ceil(N / THIN_COLS), M, count];
    batch.dispatch({ kernel: spec.name, pipeline, buffers: [args.a, args.b, bias, args.c], params, workgroups });
    return { path, precision };
  }

  const tiles = args.tiles ?? chooseTiles(gpu, M, N, count);
  requireTilesFit(gpu, tiles);
  const consts = tiledMatmulConsts(args, tiles);
  const vec4 = { a: consts.VEC_A, b: consts.VEC_B };
  const spec: KernelSpec = { name: 'matmul', source: matmulSource, consts, uniforms: PARAMS, f16 };
  const pipeline = await gpu.pipelines.get(spec);
  const operands = operandBytes(args);
  const a = vec4Binding('A', args.a, operands.a, 4 * operands.value);
  const b = vec4Binding('B', args.b, operands.b, 4 * operands.value);
  const workgroups: [number, number, number] = [Math.ceil(N / tiles.TILE_N), Math.ceil(M / tiles.TILE_M), count];
  batch.dispatch({ kernel: spec.name, pipeline, buffers: [a, b, bias, args.c], params, workgroups });
  return { path, precision, tiles, vec4 };
}

/** A product to time tile candidates on: op(A) is M×K, op(B) is K×N. */
export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  /** How many times the workload runs this product (e.g. once a layer): its weight in a pass. Default 1. */
  count?: number;
}

/**
 * What tuneMatmul times by default: one layer's products for the MLP's projection back at the tiny
 * preset's width (C = 64) over 512 rows (8 sequences of 64 tokens), in the three layouts a training
 * step runs: forward, input gradient (·Wᵀ) and weight gradient (Xᵀ·). Small, so that tuning takes
 * seconds on a software adapter. The trainer times its own model's products instead.
 */
export const TUNING_SHAPES: MatmulShape[] = [
  { M: 512, N: 64, K: 256 }, // y = x·W, [B·T, 4C]·[4C, C]
  { M: 512, N: 256, K: 64, transB: true }, // dx = dy·Wᵀ
  { M: 256, N: 64, K: 512, transA: true }, // dW = xᵀ·dy
];
/** Timed passes per candidate; the fastest counts (load on a shared machine only ever adds time). */
const TUNING_RUNS = 3;

/** measureParallelism: the most workgroups it tries, and the depth of each one's product. */
const MAX_PARALLELISM = 4096;
const PARALLELISM_K = 256;
/** A dispatch runs its workgroups at once while it takes at most this many times one workgroup's time. */
const PARALLEL_SLOWDOWN = 1.5;

export interface TuneOptions {
  shapes?: MatmulShape[];
  /** The tiles to try, TILE_CANDIDATES by default; those that do not fit the adapter are left out. */
  candidates?: MatmulTiles[];
  runs?: number;
}

/** One candidate's fastest pass over all the shapes. */
export interface TileTiming {
  tiles: MatmulTiles;
  ms: number;
}

/** What a caller keeps to reuse a tuning in a later session: plain JSON. */
export interface TunedTiles {
  /** adapterKey() of the adapter measured: reuse the tiles only on the same key. */
  adapter: string;
  tiles: MatmulTiles;
  /** Workgroups the adapter runs at once, as measured: fewer fall back to small tiles. */
  parallelism: number;
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

/** Records work into a profiled batch, submits it and returns its timing. */
async function timeBatch(gpu: Gpu, record: (batch: Batch) => Promise<void>): Promise<BatchProfile> {
  const batch = createBatch(gpu, { label: 'tune-matmul', profile: true });
  await record(batch);
  await batch.submit();
  return batch.profile();
}

/**
 * Workgroups the adapter runs at once: the most, doubling from 1, that one dispatch finishes within
 * PARALLEL_SLOWDOWN × the time of one. Every workgroup computes the same tile of a product shared
 * over a batch, so the work per workgroup stays the same as their number grows. Fastest of `runs`.
 */
async function measureParallelism(gpu: Gpu, runs: number): Promise<number> {
  const tiles = DEFAULT_TILES;
  const M = tiles.TILE_M;
  const N = tiles.TILE_N;
  const K = PARALLELISM_K;
  const most = Math.min(
    MAX_PARALLELISM,
    gpu.limits.maxComputeWorkgroupsPerDimension,
    Math.floor(gpu.limits.maxStorageBufferBindingSize / (M * N * 4)),
  );
  const a = upload(gpu, randomUniform(M * K, 3), 'parallelism-a');
  const b = upload(gpu, randomUniform(K * N, 4), 'parallelism-b');
  const product = { a, b, M, N, K, broadcastA: true, broadcastB: true, tiles, path: 'tiled' } as const;
  const ms = async (groups: number) => {
    // C sized for this trial and outside the pool, which would keep the largest (up to the binding
    // limit) for the device's lifetime; a CPU adapter stops after a few workgroups.
    const c = gpu.device.createBuffer({ size: M * N * 4 * groups, usage: STORAGE, label: 'parallelism-c' });
    try {
      const times: number[] = [];
      for (let run = 0; run < runs; run++) {
        const profile = await timeBatch(
          gpu,
          async (batch) => void (await matmul(gpu, batch, { ...product, c, batch: groups })),
        );
        times.push(profile.totalNs / 1e6);
      }
      return Math.min(...times);
    } finally {
      c.destroy();
    }
  };
  try {
    await ms(1); // compiles the pipeline and warms up
    const one = await ms(1);
    let parallelism = 1;
    while (2 * parallelism <= most && (await ms(2 * parallelism)) <= PARALLEL_SLOWDOWN * one) parallelism *= 2;
    return parallelism;
  } finally {
    for (const buffer of [a, b]) gpu.pool.release(buffer);
  }
}

/**
 * Measures how many workgroups this adapter runs at once, then times every tile candidate that fits
 * it on `shapes` as the launcher would run them with that candidate installed (small tiles for
 * products too small to fill the adapter); installs the fastest and the parallelism on `gpu` and
 * returns the ranking and a record to keep. A pass runs every shape `count` times in one batch,
 * timed per dispatch by timestamp queries when the device has timestamp-query, else by the wall
 * clock. Each candidate first runs one untimed pass, all at once so that their pipelines compile in
 * parallel; then the candidates take turns for `runs` timed passes, so that a change in load
 * affects all of them alike. Products thin enough for the thin kernel do not use tiles: left out.
 */
export async function tuneMatmul(gpu: Gpu, options: TuneOptions = {}): Promise<MatmulTuning> {
  const runs = options.runs ?? TUNING_RUNS;
  requireSizes('matmul', { runs });
  for (const { M, N, K, count = 1 } of options.shapes ?? TUNING_SHAPES) requireSizes('matmul', { M, N, K, count });
  const shapes = (options.shapes ?? TUNING_SHAPES).filter((s) => Math.min(s.M, s.N) > THIN_MAX_SIDE);
  if (shapes.length === 0) throw new GpuError('matmul', 'no product to tune: every shape takes the thin path');
  const candidates = (options.candidates ?? TILE_CANDIDATES).filter((t) => tilesFit(gpu, t));
  if (candidates.length === 0) throw new GpuError('matmul', 'no tile candidate fits this adapter');

  const parallelism = await measureParallelism(gpu, runs);
  // Operands big enough for every shape.
  const aFloats = Math.max(...shapes.map((s) => s.M * s.K));
  const bFloats = Math.max(...shapes.map((s) => s.K * s.N));
  const cFloats = Math.max(...shapes.map((s) => s.M * s.N));
  const a = upload(gpu, randomUniform(aFloats, 1), 'tune-a');
  const b = upload(gpu, randomUniform(bFloats, 2), 'tune-b');
  const c = storage(gpu, cFloats, 'tune-c');
  const pass = (tiles: MatmulTiles) =>
    timeBatch(gpu, async (batch) => {
      for (const { count = 1, ...shape } of shapes) {
        const launched = tilesFor({ tiles, parallelism }, shape.M, shape.N, 1);
        for (let i = 0; i < count; i++) await matmul(gpu, batch, { ...shape, a, b, c, tiles: launched, path: 'tiled' });
      }
    });
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
  const ranking = timed.map(({ tiles, ms }) => ({ tiles, ms: Math.min(...ms) })).sort((x, y) => x.ms - y.ms);
  const best = ranking[0]!.tiles; // there is at least one candidate
  useMatmulTiles(gpu, best, parallelism);
  const measuredAt = new Date().toISOString();
  return { ranking, record: { adapter: adapterKey(gpu.adapter), tiles: best, parallelism, clock, measuredAt } };
}
