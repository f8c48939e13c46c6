// `npm run bench -- matmul`: C = A·B (A is M×K, B is K×N, f32, row-major) by our tiled kernel,
// onnxruntime-web (WebGPU EP) and TensorFlow.js (WebGPU backend), in one page on one adapter.
//
// Implementations (table columns):
// - ours: the tile tuneMatmul picks on this adapter, as the trainer runs it (the launcher drops to
//   32×32 tiles where the product would have fewer workgroups than the adapter runs at once, which
//   tuneMatmul measures).
// - ours-untuned: the tile the launcher gives a device with no tuning record (chooseTiles before
//   tuneMatmul: the default tile, and the parallelism assumed from the adapter).
// - onnxruntime-web: a one-node ONNX MatMul model, static shapes, inputs and output in GPU buffers.
//   Not in Node (--node): it fails there (bench/lib/peers.ts ORT_UNAVAILABLE).
// - tfjs-webgpu: tf.matMul with tfjs's default settings.
// - tfjs-webgpu-best: tf.matMul with the fastest of tfjs's matmul settings for this shape
//   (bench/lib/tfjs-settings.ts: every program it can force, the packed one in both variants),
//   swept here by median time over SWEEP_RUNS interleaved runs.
//
// Before anything is timed, every implementation's output (and every tfjs setting swept) is read
// back and checked against an f64 CPU reference at the benchmarked shape: at every element when
// M·N·K ≤ REFERENCE_MACS, else at REFERENCE_MACS / K sampled elements. |got − ref| ≤ ATOL_PER_K·K
// (see there); a failure throws OutputCheckError and fails the benchmark.
//
// Timing: inputs already on the GPU, output left on the GPU; one run = one product, from its call
// to the completion of the GPU queue. Warm-up runs, then timed runs interleaved run by run across
// the implementations (interleavedMs). Each row is the median, min and max over the timed runs of
// GFLOPS = 2·M·N·K / run time: the work every implementation does (none skips or repeats any).
import {
  acquireGpu,
  assumedParallelism,
  chooseTiles,
  createBatch,
  type MatmulTiles,
  matmul,
  readFloats,
  storage,
  tuneMatmul,
  upload,
} from '../src/gpu';
import { encodeOnnxModel } from '../src/onnx';
import { randomUniform } from '../src/util/random';
import { checkOutput, sampleIndices } from './lib/check';
import { loadOrt, loadTf, ORT_UNAVAILABLE, ortGpuTensor, ortIdle, ortReadFloats, ortSession } from './lib/peers';
import { type BenchResult, type BenchRow, spreadRows } from './lib/results';
import {
  applyTfSetting,
  describeTfSetting,
  rankTfSettings,
  TF_DEFAULT_SETTING,
  TF_MATMUL_CANDIDATES,
  type TfMatmulSetting,
} from './lib/tfjs-settings';
import { interleavedMs, isSoftwareAdapter, type TimingPlan } from './lib/timing';

export interface MatmulBenchOptions {
  /** Only these cases (e.g. ["512x512x512"]); all when empty. */
  cases?: string[];
  runs?: number;
}

/** The CPU reference's budget of multiply-adds per shape: all elements of small shapes, a sample of big ones. */
const REFERENCE_MACS = 2 ** 24;
/**
 * Tolerance per unit of K, absolute. Inputs are uniform in [−1, 1]. An f32 dot product of K such
 * terms summed in order errs by a random walk of roundings of the running sum: over the elements
 * we check, at most about 0.85·2⁻²⁴·K (simulated in f32; 5e-5 at K = 1024), and less when summed in
 * blocks (tfjs and onnxruntime-web showed 1.5e-5 at K = 256). We allow 2e-7·K ≈ 3.4·2⁻²⁴·K
 * (2e-4 at K = 1024). A dropped term (|a·b| ≈ 0.25) or inputs rounded to f16 (≈ 3e-3 at K = 256)
 * exceed it by far.
 */
const ATOL_PER_K = 2e-7;
/** Timed runs per tfjs setting in the sweep, after one checked run each. */
const SWEEP_RUNS = 3;

const tileName = (t: MatmulTiles) => `${t.TILE_M}x${t.TILE_N}x${t.TILE_K}/TM${t.TM}`;

/** C[i] = Σ_k A[m, k]·B[k, n] (i = m·N + n) in f64 at each of `indices`. */
function referenceAt(a: Float32Array, b: Float32Array, K: number, N: number, indices: Uint32Array): Float64Array {
  const want = new Float64Array(indices.length);
  indices.forEach((i, j) => {
    const m = Math.floor(i / N);
    const n = i % N;
    let sum = 0;
    for (let k = 0; k < K; k++) sum += a[m * K + k]! * b[k * N + n]!;
    want[j] = sum;
  });
  return want;
}

export async function run(options: MatmulBenchOptions = {}): Promise<BenchResult> {
  const gpu = await acquireGpu();
  const software = isSoftwareAdapter(gpu.adapter);
  // GPT shapes are batch·seq rows: 64·256 on a GPU; 4·256 on a software adapter, so the run takes minutes.
  const gptRows = software ? 4 * 256 : 64 * 256;
  const shapes: [number, number, number][] = [
    [128, 128, 128],
    [256, 256, 256],
    [512, 512, 512],
    [1024, 1024, 1024],
    [gptRows, 256, 768],
    [gptRows, 768, 256],
  ];
  const plan: TimingPlan = { warmup: 2, runs: Math.max(5, options.runs ?? 5) };
  const notes = [
    `case MxKxN: A is M×K, B is K×N, f32. gflops = 2·M·N·K / run time, the work of every implementation; each row: median [min–max] over ${plan.runs} timed runs`,
    `timing: ${plan.warmup} warm-up runs each, then ${plan.runs} timed runs interleaved run by run across the implementations; a run is one product on GPU-resident inputs, timed to queue completion`,
    `checked before timing, every implementation and every tfjs setting swept: the output read back against an f64 CPU reference at every element when M·N·K ≤ 2^24, else at 2^24/K sampled elements; |got − ref| ≤ ${ATOL_PER_K}·K (≈ 3.4·2^-24·K: 4× the largest rounding error of an in-order f32 sum of K products of inputs in [−1, 1] over the elements checked)`,
    'onnxruntime-web: its WebGPU MatMul kernel has a fixed tile (8×8 threads × 4×4 outputs) and picks split-K by the adapter (some Intel GPUs only); no session option or env flag changes the MatMul program (graphOptimizationLevel, enableGraphCapture, preferredLayout for convolutions, validation and buffer-cache modes do not), so it runs as loaded: graph optimisation "all", GPU-resident inputs and output',
    `tfjs-webgpu-best: per shape, the fastest (median of ${SWEEP_RUNS} interleaved runs) of: ${TF_MATMUL_CANDIDATES.map(describeTfSetting).join('; ')}. tfjs's default (per-product choice by WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL) is one of these programs for a single product, so forcing each covers the threshold too; the reduce program (a 256-thread workgroup per output, which tfjs picks only for outputs of ≤ 128 elements) is left out: at 128x128x128 on SwiftShader it took 14.8 s a run against 0.05 s for packed; tfjs has no tile setting`,
  ];
  if (software) notes.push(`software adapter: GPT shapes use ${gptRows} rows (4·256) instead of 64·256`);
  if (ORT_UNAVAILABLE) notes.push(ORT_UNAVAILABLE);

  // What a device gets before tuning: chooseTiles with no tuning record installed.
  const untunedTiles = new Map(shapes.map(([M, , N]) => [`${M}x${N}`, chooseTiles(gpu, M, N, 1)]));
  const untunedParallelism = assumedParallelism(gpu);
  const { ranking, record } = await tuneMatmul(gpu);
  const timings = ranking.map(({ tiles, ms }) => `${tileName(tiles)}: ${ms.toFixed(1)}ms`);
  notes.push(
    `ours: tiles tuned on this adapter (${record.clock}): ${tileName(record.tiles)} (${timings.join(', ')}); ` +
      `parallelism measured ${record.parallelism} workgroups (assumed before tuning: ${untunedParallelism})`,
  );

  if (!ORT_UNAVAILABLE) loadOrt();
  const { tf, idle: tfIdle } = await loadTf();
  const rows: BenchRow[] = [];

  for (const [M, K, N] of shapes) {
    const name = `${M}x${K}x${N}`;
    if (options.cases?.length && !options.cases.includes(name)) continue;
    const aData = randomUniform(M * K, 1);
    const bData = randomUniform(K * N, 2);
    const indices = sampleIndices(M * N, Math.floor(REFERENCE_MACS / K), M + N + K);
    const want = referenceAt(aData, bData, K, N, indices);
    const check = (impl: string, got: ArrayLike<number>) =>
      checkOutput(`${name} ${impl}`, got, want, { atol: ATOL_PER_K * K, rtol: 0 }, indices);

    // ours: the tuned tile (the launcher's choice) and the untuned one
    const a = upload(gpu, aData);
    const b = upload(gpu, bData);
    const c = storage(gpu, M * N);
    const ours = async (tiles?: MatmulTiles) => {
      const batch = createBatch(gpu, { label: 'bench' });
      const launch = await matmul(gpu, batch, { a, b, c, M, N, K, tiles });
      await batch.submit();
      await gpu.idle();
      return launch;
    };
    const untuned = untunedTiles.get(`${M}x${N}`);
    const used: string[] = [];
    for (const [impl, tiles] of [
      ['ours', undefined],
      ['ours-untuned', untuned],
    ] as const) {
      // Unwritten outputs read back as NaN and fail the check.
      gpu.device.queue.writeBuffer(c, 0, new Float32Array(M * N).fill(Number.NaN));
      const launch = await ours(tiles);
      check(impl, await readFloats(gpu, c, M * N));
      used.push(`${impl} ${launch.tiles ? tileName(launch.tiles) : launch.path}`);
    }

    // onnxruntime-web: a one-node MatMul model with static shapes
    const ort = ORT_UNAVAILABLE ? undefined : await ortMatmul(M, K, N, aData, bData, check);
    // TensorFlow.js: every setting checked, then swept
    const tfA = tf.tensor2d(aData, [M, K]);
    const tfB = tf.tensor2d(bData, [K, N]);
    const tfjs = async () => {
      const product = tf.matMul(tfA, tfB);
      await tfIdle();
      product.dispose();
    };
    for (const setting of [TF_DEFAULT_SETTING, ...TF_MATMUL_CANDIDATES]) {
      applyTfSetting(setting);
      const product = tf.matMul(tfA, tfB);
      check(`tfjs-webgpu (${describeTfSetting(setting)})`, await product.data());
      product.dispose();
    }
    const sweep = await rankTfSettings(
      TF_MATMUL_CANDIDATES.map((setting) => ({ setting, run: tfjs })),
      { warmup: 0, runs: SWEEP_RUNS },
    );
    const best = sweep[0]!.setting; // TF_MATMUL_CANDIDATES is not empty
    const sweepText = sweep.map((s) => `${describeTfSetting(s.setting)} ${s.ms.toFixed(1)}ms`).join('; ');
    notes.push(`${name}: ${used.join(', ')}; tfjs-webgpu-best: ${describeTfSetting(best)} (sweep: ${sweepText})`);
    console.log(`${name} tfjs sweep: ${sweepText}`);

    const withSetting = (setting: TfMatmulSetting) => async () => {
      applyTfSetting(setting);
      await tfjs();
    };
    const impls: Record<string, () => Promise<void>> = {
      ours: async () => void (await ours()),
      'ours-untuned': async () => void (await ours(untuned)),
      ...(ort && { 'onnxruntime-web': ort.run }),
      'tfjs-webgpu': withSetting(TF_DEFAULT_SETTING),
      'tfjs-webgpu-best': withSetting(best),
    };
    const times = await interleavedMs(impls, plan);
    for (const [impl, ms] of Object.entries(times)) {
      const gflops = ms.map((t) => (2 * M * N * K) / (t * 1e6));
      rows.push(...spreadRows(name, impl, 'gflops', gflops));
      console.log(`${name} ${impl}: GFLOPS ${gflops.map((g) => g.toFixed(3)).join(' ')}`);
    }

    applyTfSetting(TF_DEFAULT_SETTING);
    for (const buffer of [a, b, c]) gpu.pool.release(buffer);
    await ort?.release();
    tfA.dispose();
    tfB.dispose();
  }
  gpu.destroy();
  return { adapter: { ...gpu.adapter, software }, rows, notes };
}

/** onnxruntime-web's product on GPU-resident inputs and output, checked once: its timed run and its release. */
async function ortMatmul(
  M: number,
  K: number,
  N: number,
  aData: Float32Array,
  bData: Float32Array,
  check: (impl: string, got: ArrayLike<number>) => void,
): Promise<{ run: () => Promise<void>; release: () => Promise<void> }> {
  const model = encodeOnnxModel({
    name: 'matmul',
    inputs: [
      { name: 'A', shape: [M, K] },
      { name: 'B', shape: [K, N] },
    ],
    outputs: [{ name: 'C', shape: [M, N] }],
    nodes: [{ op: 'MatMul', inputs: ['A', 'B'], outputs: ['C'] }],
  });
  const session = await ortSession(model);
  const A = await ortGpuTensor([M, K], aData);
  const B = await ortGpuTensor([K, N], bData);
  const C = await ortGpuTensor([M, N]);
  const run = async () => {
    await session.run({ A, B }, { C });
    await ortIdle();
  };
  await run();
  check('onnxruntime-web', await ortReadFloats(C));
  return {
    run,
    release: async () => {
      await session.release();
      for (const t of [A, B, C]) t.dispose();
    },
  };
}
