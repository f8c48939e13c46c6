// Browser-side halves of the GPU runtime and matmul tests; the specs call these through inPage().
import {
  acquireGpu,
  adapterKey,
  createBatch,
  type Gpu,
  GpuDeviceLostError,
  GpuError,
  type MatmulArgs,
  type MatmulLaunch,
  type MatmulTiles,
  matmul,
  readFloats,
  SMALL_TILES,
  STORAGE,
  storage,
  TILE_CANDIDATES,
  type TileTiming,
  type TunedTiles,
  tilesFit,
  tuneMatmul,
  upload,
  useMatmulTiles,
} from '../../src/gpu';
import { matmulCpu } from '../../src/model/cpu/matmul';
import { packF16, roundToF16 } from '../../src/util/f16';
import { randomUniform } from '../../src/util/random';
import { compareArrays } from '../harness/compare';
import { errorMessages, pageGpu as gpu } from './run-kernels';

export async function adapterSummary() {
  const g = await gpu();
  return { adapter: g.adapter, has: g.has };
}

export interface MatmulCase {
  M: number;
  N: number;
  K: number;
  batch?: number;
  broadcastB?: boolean;
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
  accumulate?: boolean;
  path?: 'tiled' | 'thin';
  tiles?: MatmulTiles;
  /** 'f16': A and B go to the GPU as f16, and the CPU reference gets the same f16 values. */
  precision?: 'f32' | 'f16';
  seed: number;
  /** Pass when |gpu − cpu| ≤ atol + rtol·|cpu| for every element. */
  atol: number;
  rtol: number;
}

export interface MatmulCaseResult {
  launch: MatmulLaunch;
  maxAbsErr: number;
  /** Largest |gpu − cpu| / (atol + rtol·|cpu|): the case passes when this is ≤ 1. */
  worst: number;
  elements: number;
}

/** Runs one matmul on the GPU and on the CPU reference with the same random inputs. */
export async function matmulCase(c: MatmulCase, onGpu?: Gpu): Promise<MatmulCaseResult> {
  const g = onGpu ?? (await gpu());
  const batch = c.batch ?? 1;
  const f16 = c.precision === 'f16';
  const operand = (n: number, seed: number) => (f16 ? roundToF16 : (x: Float32Array) => x)(randomUniform(n, seed));
  const aData = operand(c.M * c.K * batch, c.seed);
  const bData = operand(c.K * c.N * (c.broadcastB ? 1 : batch), c.seed + 1);
  const biasData = c.bias ? randomUniform(c.N, c.seed + 2) : undefined;
  const cData = c.accumulate ? randomUniform(c.M * c.N * batch, c.seed + 3) : undefined;

  const a = upload(g, f16 ? packF16(aData) : aData);
  const b = upload(g, f16 ? packF16(bData) : bData);
  const bias = biasData ? upload(g, biasData) : undefined;
  const out = cData ? upload(g, cData) : storage(g, c.M * c.N * batch);
  const args: MatmulArgs = { ...c, a, b, c: out, bias, batch };
  const run = createBatch(g, { label: 'matmul-test' });
  const launch = await matmul(g, run, args);
  await run.submit();
  const got = await readFloats(g, out, c.M * c.N * batch);
  for (const buffer of [a, b, bias, out]) if (buffer) g.pool.release(buffer);

  const want = matmulCpu({ ...c, a: aData, b: bData, bias: biasData, c: cData, batch });
  const { maxAbsErr, worst } = compareArrays(got, want, c.atol, c.rtol);
  return { launch, maxAbsErr, worst, elements: want.length };
}

/** The same case on a device created without shader-f16: the error an f16 request gets ('no error' if none). */
export async function matmulF16WithoutShaderF16(c: MatmulCase): Promise<string> {
  const g = await acquireGpu({ disableFeatures: ['shader-f16'] });
  try {
    const [message] = await errorMessages([() => matmulCase(c, g)]);
    return message ?? 'no error';
  } finally {
    g.destroy();
  }
}

/**
 * The tiled kernel reads A and B in vec4s: a 7×13 A (91 floats) bound as a range of a larger buffer
 * is widened to whole vec4s and multiplies correctly; alone in a buffer of exactly 364 bytes, its
 * last values are out of reach, and the launcher says so.
 */
export async function matmulOnTightBindings() {
  const g = await gpu();
  const [M, K, N] = [7, 13, 5];
  const aData = randomUniform(M * K, 31);
  const bData = randomUniform(K * N, 32);
  const shared = storage(g, 1024);
  g.device.queue.writeBuffer(shared, 256, aData.buffer as ArrayBuffer);
  g.device.queue.writeBuffer(shared, 768, bData.buffer as ArrayBuffer);
  const exact = g.device.createBuffer({ size: M * K * 4, usage: STORAGE });
  const out = storage(g, M * N);
  try {
    const run = createBatch(g, { label: 'tight-bindings' });
    const a = { buffer: shared, offset: 256, size: M * K * 4 };
    const b = { buffer: shared, offset: 768, size: K * N * 4 };
    await matmul(g, run, { a, b, c: out, M, N, K, path: 'tiled' });
    await run.submit();
    const got = await readFloats(g, out, M * N);
    const { worst } = compareArrays(got, matmulCpu({ a: aData, b: bData, M, N, K }), 1e-5, 1e-5 * Math.sqrt(K));
    const [refused] = await errorMessages([
      () => matmul(g, createBatch(g, { label: 'exact' }), { a: exact, b, c: out, M, N, K, path: 'tiled' }),
    ]);
    return { worst, refused };
  } finally {
    exact.destroy();
    for (const buffer of [shared, out]) g.pool.release(buffer);
  }
}

/** A WGSL syntax error must surface as a GpuError naming the kernel and the line. */
export async function compileErrorNamesKernel() {
  const g = await gpu();
  try {
    await g.pipelines.get({
      name: 'broken_kernel',
      source: '@compute @workgroup_size(1) fn main() { let x: u32 = ; }',
    });
    return { threw: false, message: '' };
  } catch (e) {
    return { threw: e instanceof GpuError, message: (e as Error).message };
  }
}

/** A syntax error in an included file must name that file and its line. */
export async function includedCompileErrorNamesFile() {
  const g = await gpu();
  try {
    await g.pipelines.get({
      name: 'broken_include',
      source: '#include "helpers.wgsl"\n@compute @workgroup_size(1) fn main() { _ = helper(); }',
      includes: { 'helpers.wgsl': 'fn helper() -> u32 {\n  let x: u32 = ;\n  return x;\n}' },
    });
    return { threw: false, message: '' };
  } catch (e) {
    return { threw: e instanceof GpuError, message: (e as Error).message };
  }
}

/** A dispatch that violates validation (buffer too small for the binding) must throw a GpuError naming its kernel. */
export async function dispatchErrorNamesKernel() {
  const g = await gpu();
  const source = `
    @group(0) @binding(0) var<storage, read_write> data: array<vec4<f32>, 64>;
    @compute @workgroup_size(1) fn main() { data[0] = vec4<f32>(1.0); }`;
  const pipeline = await g.pipelines.get({ name: 'needs_1k', source });
  const tiny = g.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  const run = createBatch(g, { label: 'bad-dispatch' });
  try {
    run.dispatch({ kernel: 'needs_1k', pipeline, buffers: [tiny], workgroups: [1] });
    await run.submit();
    return { threw: false, message: '' };
  } catch (e) {
    return { threw: e instanceof GpuError, message: (e as Error).message };
  } finally {
    tiny.destroy();
  }
}

/** Same spec twice gives the same pipeline; other consts give another. */
export async function pipelineCacheReuses() {
  const g = await gpu();
  const source = '@compute @workgroup_size(1) fn main() { _ = X; }';
  const before = g.pipelines.size;
  const p1 = await g.pipelines.get({ name: 'cached', source, consts: { X: 1 } });
  const p2 = await g.pipelines.get({ name: 'cached', source, consts: { X: 1 } });
  const p3 = await g.pipelines.get({ name: 'cached', source, consts: { X: 2 } });
  return { same: p1 === p2, different: p1 !== p3, added: g.pipelines.size - before };
}

/** Released buffers come back for requests of the same size class; live and peak bytes are tracked. */
export async function bufferPoolReuses() {
  const g = await gpu();
  const start = g.pool.stats();
  g.pool.resetPeak();
  const x = storage(g, 1000);
  const y = storage(g, 1000);
  const live = g.pool.stats().liveBytes - start.liveBytes;
  g.pool.release(x);
  const z = storage(g, 990);
  const reused = z === x;
  g.pool.release(y);
  g.pool.release(z);
  let doubleRelease = '';
  try {
    g.pool.release(z);
  } catch (e) {
    doubleRelease = (e as Error).message;
  }
  let oversize = '';
  try {
    g.pool.acquire(g.limits.maxBufferSize + 4, GPUBufferUsage.STORAGE);
  } catch (e) {
    oversize = (e as Error).message;
  }
  return { live, reused, peak: g.pool.stats().peakBytes - start.liveBytes, doubleRelease, oversize };
}

/** Per-kernel GPU timings with timestamp-query; wall clock without it. */
export async function profilerTimesKernels(options: { withTimestamps: boolean }) {
  const g = await acquireGpu({ disableFeatures: options.withTimestamps ? [] : ['timestamp-query'] });
  try {
    const M = 64,
      N = 64,
      K = 64;
    const a = upload(g, randomUniform(M * K, 1));
    const b = upload(g, randomUniform(K * N, 2));
    const c = storage(g, M * N);
    const run = createBatch(g, { label: 'profiled', profile: true });
    await matmul(g, run, { a, b, c, M, N, K });
    await matmul(g, run, { a, b, c, M, N, K, accumulate: true });
    await run.submit();
    const profile = await run.profile();
    return { hasTimestamps: g.has.timestamps, profile };
  } finally {
    g.destroy();
  }
}

/** Losing the device calls onLost, later work throws GpuDeviceLostError, and a rebuilt device works. */
export async function deviceLossIsRecoverable() {
  let lostReason = '';
  const g = await acquireGpu({ onLost: (reason) => (lostReason = reason) });
  g.device.destroy(); // what a driver reset looks like to us
  await g.device.lost;
  await new Promise((r) => setTimeout(r, 0));
  let afterLoss = '';
  try {
    createBatch(g, { label: 'after-loss' });
  } catch (e) {
    afterLoss = e instanceof GpuDeviceLostError ? e.message : `wrong error: ${(e as Error).message}`;
  }
  const rebuilt = await acquireGpu();
  try {
    const check = await matmulCase({ M: 9, N: 11, K: 13, seed: 5, atol: 1e-5, rtol: 1e-5 }, rebuilt);
    return { lostReason, afterLoss, rebuiltWorst: check.worst };
  } finally {
    rebuilt.destroy();
  }
}

/** Bad shapes and buffers get clear errors before anything reaches the GPU. */
export async function matmulRejectsBadArgs() {
  const g = await gpu();
  const small = storage(g, 4);
  const run = createBatch(g, { label: 'bad-args' });
  const shapes: Partial<MatmulArgs>[] = [
    { M: 0, N: 1, K: 1 },
    { M: 1.5, N: 1, K: 1 },
    { M: 64, N: 64, K: 64 },
  ];
  const messages = await errorMessages(
    shapes.map((shape) => () => matmul(g, run, { a: small, b: small, c: small, M: 1, N: 1, K: 1, ...shape })),
  );
  g.pool.release(small);
  return messages;
}

/** A product to run with an installed tile: 8 workgroups of the largest candidate, 128 of the smallest. */
const INSTALLED_TILE_CASE: MatmulCase = { M: 256, N: 512, K: 8, seed: 21, atol: 1e-5, rtol: 1e-5 * Math.sqrt(8) };

export interface TuningResult {
  ranking: TileTiming[];
  record: TunedTiles;
  adapterKey: string;
  hasTimestamps: boolean;
  /** The candidates that fit this adapter. */
  fitting: MatmulTiles[];
  /** A product run after tuning. */
  after: MatmulCaseResult;
  /** The tile it should take: the tuned one, or SMALL_TILES where it has fewer workgroups of it than the parallelism. */
  afterTiles: MatmulTiles;
}

/**
 * Tunes on a device of its own (the page's device keeps its tiles), then runs a product. The
 * tuning shape is that product, so that it reuses the winner's pipeline.
 */
export async function matmulTuning(options: {
  withTimestamps: boolean;
  candidates?: MatmulTiles[];
}): Promise<TuningResult> {
  const g = await acquireGpu({ disableFeatures: options.withTimestamps ? [] : ['timestamp-query'] });
  try {
    const { M, N, K } = INSTALLED_TILE_CASE;
    const candidates = options.candidates ?? TILE_CANDIDATES;
    const { ranking, record } = await tuneMatmul(g, { shapes: [{ M, N, K }], candidates, runs: 2 });
    const workgroups = Math.ceil(M / record.tiles.TILE_M) * Math.ceil(N / record.tiles.TILE_N);
    return {
      afterTiles: workgroups < record.parallelism ? SMALL_TILES : record.tiles,
      ranking,
      record,
      adapterKey: adapterKey(g.adapter),
      hasTimestamps: g.has.timestamps,
      fitting: candidates.filter((t) => tilesFit(g, t)),
      after: await matmulCase(INSTALLED_TILE_CASE, g),
    };
  } finally {
    g.destroy();
  }
}

/** Installs each fitting tile in turn on a device of its own and runs a product with it; then tries the misfits. */
export async function installedTilesAreUsed(tiles: { fitting: MatmulTiles[]; misfits: MatmulTiles[] }) {
  const g = await acquireGpu();
  try {
    const launches: MatmulCaseResult[] = [];
    for (const t of tiles.fitting) {
      // Parallelism 1: no product is too small for the tile, whatever the adapter.
      useMatmulTiles(g, t, 1);
      launches.push(await matmulCase(INSTALLED_TILE_CASE, g));
    }
    const rejected = await errorMessages([
      ...tiles.misfits.map((t) => async () => useMatmulTiles(g, t, 1)),
      async () => useMatmulTiles(g, tiles.fitting[0]!, 0),
    ]);
    // A rejected tile leaves the installed one in place.
    const afterRejection = await matmulCase(INSTALLED_TILE_CASE, g);
    return { launches, rejected, afterRejection };
  } finally {
    g.destroy();
  }
}
