// `npm run bench -- matmul`: our matmul against onnxruntime-web (WebGPU EP) and TensorFlow.js (WebGPU backend).
// Every implementation: inputs already on the GPU, output left on the GPU, timed to queue completion.
import { acquireGpu, createBatch, matmul, storage, tuneMatmul, upload } from '../src/gpu';
import { encodeOnnxModel } from '../src/onnx';
import { randomUniform } from '../src/util/random';
import { loadOrt, loadTf, ortGpuTensor, ortIdle, ortSession } from './lib/peers';
import type { BenchResult, BenchRow } from './lib/results';
import { isSoftwareAdapter, medianMs, type TimingPlan } from './lib/timing';

export interface MatmulBenchOptions {
  /** Only these cases (e.g. ["512x512x512"]); all when empty. */
  cases?: string[];
  runs?: number;
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
  const notes = [`timing: ${plan.warmup} warm-up runs, median of ${plan.runs}; GFLOPS = 2·M·N·K / time`];
  if (software) notes.push(`software adapter: GPT shapes use ${gptRows} rows (4·256) instead of 64·256`);

  const { ranking, record } = await tuneMatmul(gpu);
  const timings = ranking.map(({ tiles: t, ms }) => `${t.TILE_M}x${t.TILE_N}x${t.TILE_K}/${t.TM}: ${ms.toFixed(1)}ms`);
  notes.push(`tiles tuned on this adapter (${record.clock}): ${JSON.stringify(record.tiles)} (${timings.join(', ')})`);

  loadOrt();
  const { tf, idle: tfIdle } = await loadTf();
  const rows: BenchRow[] = [];

  for (const [M, K, N] of shapes) {
    const name = `${M}x${K}x${N}`;
    if (options.cases?.length && !options.cases.includes(name)) continue;
    const aData = randomUniform(M * K, 1);
    const bData = randomUniform(K * N, 2);
    const gflops = (ms: number) => (2 * M * N * K) / (ms * 1e6);
    const record = (impl: string, ms: number) => {
      rows.push({ case: name, impl, metric: 'gflops', value: gflops(ms) });
      console.log(`${name} ${impl}: ${ms.toFixed(2)} ms, ${gflops(ms).toFixed(3)} GFLOPS`);
    };

    // ours
    {
      const a = upload(gpu, aData);
      const b = upload(gpu, bData);
      const c = storage(gpu, M * N);
      const ms = await medianMs(async () => {
        const batch = createBatch(gpu, { label: 'bench' });
        await matmul(gpu, batch, { a, b, c, M, N, K });
        await batch.submit();
        await gpu.idle();
      }, plan);
      record('ours', ms);
      for (const buffer of [a, b, c]) gpu.pool.release(buffer);
    }

    // onnxruntime-web: a one-node MatMul model with static shapes
    {
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
      const ms = await medianMs(async () => {
        await session.run({ A, B }, { C });
        await ortIdle();
      }, plan);
      record('onnxruntime-web', ms);
      await session.release();
      for (const t of [A, B, C]) t.dispose();
    }

    // TensorFlow.js
    {
      const a = tf.tensor2d(aData, [M, K]);
      const b = tf.tensor2d(bData, [K, N]);
      const ms = await medianMs(async () => {
        const c = tf.matMul(a, b);
        await tfIdle();
        c.dispose();
      }, plan);
      record('tfjs-webgpu', ms);
      a.dispose();
      b.dispose();
    }
  }
  gpu.destroy();
  return { adapter: { ...gpu.adapter, software }, rows, notes };
}
