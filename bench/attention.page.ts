// `npm run bench -- attention`: our fused causal flash attention against the unfused
// baseline (our matmul + softmax with T×T materialised) and onnxruntime-web's WebGPU
// MultiHeadAttention (forward only: it has no training graph). B=4, H=4, D=64.
import { acquireGpu, attentionBackward, attentionForward, createBatch, type Gpu, storage, upload } from '../src/gpu';
import { encodeOnnxModel } from '../src/onnx';
import { randomUniform } from '../src/util/random';
import { loadOrt, type Ort, ortSession } from './lib/peers';
import type { BenchResult, BenchRow } from './lib/results';
import { isSoftwareAdapter, medianMs, type TimingPlan } from './lib/timing';
import { unfusedBackward, unfusedForward } from './lib/unfused-attention';

export interface AttentionBenchOptions {
  cases?: string[];
  runs?: number;
}

const H = 4;
const D = 64;
const SEQUENCE_LENGTHS = [128, 256, 512, 1024];

/** Runs `body` with fresh buffers from the pool and reports the pool's peak bytes while it ran. */
async function measurePeak(gpu: Gpu, body: () => Promise<void>): Promise<number> {
  const before = gpu.pool.stats().liveBytes;
  gpu.pool.resetPeak();
  await body();
  return gpu.pool.stats().peakBytes - before;
}

export async function run(options: AttentionBenchOptions = {}): Promise<BenchResult> {
  const gpu = await acquireGpu();
  const software = isSoftwareAdapter(gpu.adapter);
  // A software adapter runs batch 1 so the sweep takes minutes; the case name says so.
  const B = software ? 1 : 4;
  const plan: TimingPlan = { warmup: 1, runs: Math.max(5, options.runs ?? 5) };
  const notes = [
    `B=${B} H=${H} D=${D}, causal; timing: ${plan.warmup} warm-up, median of ${plan.runs}, to queue completion`,
    'gflops use the same nominal count for every impl: forward 2·B·H·T²·D (causal half of 4·B·H·T²·D), forward+backward 3.5× that',
    'peak_bytes: ours and unfused = largest bytes live in our buffer pool (inputs, outputs, saved and scratch tensors); onnxruntime-web = largest bytes of GPU buffers live on its device',
  ];
  if (software) notes.push('software adapter: B=1 instead of 4');
  const ort = await trackedOrt();
  const rows: BenchRow[] = [];

  for (const T of SEQUENCE_LENGTHS) {
    const name = software ? `T=${T} (B=1)` : `T=${T}`;
    if (options.cases?.length && !options.cases.some((c) => name.startsWith(c))) continue;
    const n = B * H * T * D;
    const fwdFlops = 2 * B * H * T * T * D;
    const record = (impl: string, metric: string, value: number) => {
      rows.push({ case: name, impl, metric, value });
      console.log(`${name} ${impl} ${metric}: ${value.toFixed(metric.endsWith('bytes') ? 0 : 3)}`);
    };
    const timeBoth = async (impl: string, fwd: () => Promise<void>, fwdbwd: () => Promise<void>) => {
      const fwdMs = await medianMs(fwd, plan);
      const fwdbwdMs = await medianMs(fwdbwd, plan);
      record(impl, 'fwd_ms', fwdMs);
      record(impl, 'fwdbwd_ms', fwdbwdMs);
      record(impl, 'fwd_gflops', fwdFlops / (fwdMs * 1e6));
      record(impl, 'fwdbwd_gflops', (3.5 * fwdFlops) / (fwdbwdMs * 1e6));
    };
    const data = [1, 2, 3, 4].map((seed) => randomUniform(n, seed));

    for (const impl of ['ours', 'unfused'] as const) {
      const peak = await measurePeak(gpu, async () => {
        const [q, k, v, dout] = data.map((x) => upload(gpu, x)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
        const [o, dq, dk, dv] = [storage(gpu, n), storage(gpu, n), storage(gpu, n), storage(gpu, n)];
        const lse = storage(gpu, B * H * T);
        const shape = { B, H, T, D };
        const pass = async (backward: boolean) => {
          const batch = createBatch(gpu, { label: `attention-${impl}` });
          if (impl === 'ours') {
            await attentionForward(gpu, batch, { ...shape, q, k, v, o, lse });
            if (backward) await attentionBackward(gpu, batch, { ...shape, q, k, v, o, lse, dout, dq, dk, dv });
          } else {
            const probs = batch.scratch(B * H * T * T * 4, 'probs');
            await unfusedForward(gpu, batch, shape, { q, k, v, o, probs });
            if (backward) {
              const dscores = batch.scratch(B * H * T * T * 4, 'dscores');
              await unfusedBackward(gpu, batch, shape, { q, k, v, o, probs, dout, dq, dk, dv, dscores });
            }
          }
          await batch.submit();
          await gpu.idle();
        };
        await timeBoth(
          impl,
          () => pass(false),
          () => pass(true),
        );
        for (const b of [q, k, v, dout, o, dq, dk, dv, lse]) gpu.pool.release(b);
      });
      record(impl, 'peak_bytes', peak);
    }

    const ortResult = await ortAttention(ort, { B, T }, data);
    record('onnxruntime-web', 'fwd_ms', ortResult.ms);
    record('onnxruntime-web', 'fwd_gflops', fwdFlops / (ortResult.ms * 1e6));
    record('onnxruntime-web', 'peak_bytes', ortResult.peakBytes);
    if (!notes.some((x) => x.startsWith('onnxruntime-web ran'))) notes.push(`onnxruntime-web ran ${ortResult.graph}`);
  }
  gpu.destroy();
  return { adapter: { ...gpu.adapter, software }, rows, notes };
}

interface TrackedOrt {
  ort: Ort;
  device: GPUDevice;
  liveBytes: () => number;
  /** Returns the peak since the last call and starts a new measurement. */
  takePeak: () => number;
}

/**
 * onnxruntime-web with its device's createBuffer wrapped to count live bytes, so its
 * peak memory is measurable. ORT creates its own device (it ignores one handed in),
 * so a tiny session starts it first (and stays open); buffers made before the wrap are not counted.
 */
async function trackedOrt(): Promise<TrackedOrt> {
  const ort = loadOrt();
  const warmup = encodeOnnxModel({
    name: 'start',
    inputs: [{ name: 'x', shape: [1] }],
    outputs: [{ name: 'y', shape: [1] }],
    nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
  });
  // Kept open: ORT may drop its device when the last session closes.
  await ortSession(warmup);
  const device = (await ort.env.webgpu.device) as GPUDevice;
  let live = 0;
  let peak = 0;
  const create = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor) => {
    const buffer = create(descriptor);
    live += buffer.size;
    peak = Math.max(peak, live);
    const destroy = buffer.destroy.bind(buffer);
    let destroyed = false;
    buffer.destroy = () => {
      if (!destroyed) live -= buffer.size;
      destroyed = true;
      destroy();
    };
    return buffer;
  };
  return {
    ort,
    device,
    liveBytes: () => live,
    takePeak: () => {
      const p = peak;
      peak = live;
      return p;
    },
  };
}

/** ORT's contrib MultiHeadAttention with a causal additive bias; the plain MatMul/Softmax graph if the provider refuses it. */
async function ortAttention(
  t: TrackedOrt,
  s: { B: number; T: number },
  data: Float32Array[],
): Promise<{ ms: number; peakBytes: number; graph: string }> {
  const { ort, device } = t;
  const { B, T } = s;
  const C = H * D;
  const mask = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = -1e4;
  const gpuTensor = (dims: number[], values?: Float32Array) => {
    const bytes = dims.reduce((a, b) => a * b, 1) * 4;
    const buffer = device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    });
    if (values) device.queue.writeBuffer(buffer, 0, values.buffer as ArrayBuffer, values.byteOffset, values.byteLength);
    return ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims, dispose: () => buffer.destroy() });
  };
  const before = t.liveBytes();
  t.takePeak();

  const graphs = [
    {
      graph: 'com.microsoft MultiHeadAttention (inputs [B, T, H·D], causal attention_bias)',
      model: encodeOnnxModel({
        name: 'mha',
        domains: { 'com.microsoft': 1 },
        inputs: [
          { name: 'q', shape: [B, T, C] },
          { name: 'k', shape: [B, T, C] },
          { name: 'v', shape: [B, T, C] },
          { name: 'bias', shape: [1, 1, T, T] },
        ],
        outputs: [{ name: 'o', shape: [B, T, C] }],
        nodes: [
          {
            op: 'MultiHeadAttention',
            domain: 'com.microsoft',
            inputs: ['q', 'k', 'v', '', '', 'bias'],
            outputs: ['o'],
            attributes: { num_heads: H },
          },
        ],
      }),
      dims: [B, T, C],
      outDims: [B, T, C],
      maskDims: [1, 1, T, T],
    },
    {
      graph: 'MatMul/Softmax graph (inputs [B·H, T, D], causal additive mask)',
      model: encodeOnnxModel({
        name: 'attention',
        inputs: [
          { name: 'q', shape: [B * H, T, D] },
          { name: 'k', shape: [B * H, T, D] },
          { name: 'v', shape: [B * H, T, D] },
          { name: 'bias', shape: [T, T] },
        ],
        outputs: [{ name: 'o', shape: [B * H, T, D] }],
        nodes: [
          { op: 'Transpose', inputs: ['k'], outputs: ['kt'], attributes: { perm: [0, 2, 1] } },
          { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'] },
          { op: 'Mul', inputs: ['s', 'scale'], outputs: ['scaled'] },
          { op: 'Add', inputs: ['scaled', 'bias'], outputs: ['masked'] },
          { op: 'Softmax', inputs: ['masked'], outputs: ['p'], attributes: { axis: -1 } },
          { op: 'MatMul', inputs: ['p', 'v'], outputs: ['o'] },
        ],
        initializers: [{ name: 'scale', dims: [], data: new Float32Array([1 / Math.sqrt(D)]) }],
      }),
      dims: [B * H, T, D],
      outDims: [B * H, T, D],
      maskDims: [T, T],
    },
  ];
  let lastError: unknown;
  for (const g of graphs) {
    let session: Awaited<ReturnType<typeof ortSession>> | undefined;
    try {
      const open = await ortSession(g.model);
      session = open;
      const feeds = {
        q: gpuTensor(g.dims, data[0]),
        k: gpuTensor(g.dims, data[1]),
        v: gpuTensor(g.dims, data[2]),
        bias: gpuTensor(g.maskDims, mask),
      };
      const fetches = { o: gpuTensor(g.outDims) };
      const plan = { warmup: 1, runs: 5 };
      const ms = await medianMs(async () => {
        await open.run(feeds, fetches);
        await device.queue.onSubmittedWorkDone();
      }, plan);
      const peakBytes = t.takePeak() - before;
      await open.release();
      for (const tensor of [...Object.values(feeds), ...Object.values(fetches)]) tensor.dispose();
      return { ms, peakBytes, graph: g.graph };
    } catch (e) {
      lastError = e;
      console.log(`onnxruntime-web could not run ${g.graph}: ${(e as Error).message}`);
      await session?.release();
    }
  }
  throw lastError;
}
