// `npm run bench -- attention`: causal attention over B·H heads of T×D (H=4, D=64; B=4, or B=1 on a
// software adapter), forward (fwd) and forward+backward (fwdbwd), four implementations:
//   ours                  our fused flash kernels (src/gpu/attention.ts): key blocks above the diagonal
//                         skipped, scores kept in workgroup memory, recomputed in the backward
//   unfused-full          our matmul and softmax kernels, the T×T scores materialised, every block computed
//                         (bench/lib/unfused-attention.ts), matmul tiles aligned to our forward kernel's block
//   unfused-block-causal  the same kernels and tiles, but the key blocks above the diagonal never computed,
//                         at that block size (bench/lib/block-causal-attention.ts)
//   onnxruntime-web       its WebGPU MultiHeadAttention with a causal additive bias, or, where that cannot
//                         run or fails the output check, its MatMul/Softmax graph (forward only: ORT has no
//                         training graph); the notes say which ran and why. Not in Node (--node): it
//                         fails there (bench/lib/peers.ts ORT_UNAVAILABLE)
// unfused-full → unfused-block-causal is the gain of causal skipping; unfused-block-causal → ours the
// gain of fusion. Rows *_skip_speedup and *_fusion_speedup give both, run by run.
//
// Before timing, each implementation runs one pass (forward+backward where it has a backward) whose
// outputs are checked against the CPU reference on sampled heads (bench/lib/attention-check.ts); a
// mismatch throws and fails the benchmark. Then every pass of every implementation is timed, interleaved
// run by run (bench/lib/timing.ts), each run from recording to queue completion, inputs already on the
// GPU. Every time and GFLOPS row is the median with _min and _max over the runs. GFLOPS count the work
// each implementation does (bench/lib/attention-work.ts); peak_bytes the memory of one checked pass.

import type { InferenceSession, Tensor } from 'onnxruntime-web/webgpu';
import {
  acquireGpu,
  attentionBackward,
  attentionForward,
  attentionLaunch,
  attentionTiles,
  type Batch,
  createBatch,
  type Gpu,
  readFloats,
  storage,
  upload,
} from '../src/gpu';
import { encodeOnnxModel } from '../src/onnx';
import { randomUniform } from '../src/util/random';
import {
  type AttentionOutputs,
  type AttentionReference,
  attentionReference,
  checkAttention,
  GRADIENT_TOLERANCE,
  OUTPUT_TOLERANCE,
  REFERENCE_SCORES,
  swapMiddleAxes,
} from './lib/attention-check';
import {
  attentionFlops,
  type ComputedScores,
  fullScores,
  keyBlockScores,
  queryBlockScores,
} from './lib/attention-work';
import { blockCausalBackward, blockCausalForward } from './lib/block-causal-attention';
import { OutputCheckError } from './lib/check';
import { loadOrt, ORT_UNAVAILABLE, type Ort, ortReadFloats, ortSession } from './lib/peers';
import { type BenchResult, type BenchRow, spreadRows } from './lib/results';
import { interleavedMs, isSoftwareAdapter, type TimingPlan } from './lib/timing';
import {
  blockTiles,
  type CausalBlock,
  type ProductKind,
  type Shape,
  unfusedBackward,
  unfusedForward,
} from './lib/unfused-attention';

export interface AttentionBenchOptions {
  cases?: string[];
  runs?: number;
}

const H = 4;
const D = 64;
const SEQUENCE_LENGTHS = [128, 256, 512, 1024];
const MIN_RUNS = 5;

type Pass = 'fwd' | 'fwdbwd';
type ImplName = 'ours' | 'unfused-full' | 'unfused-block-causal' | 'onnxruntime-web';

/** One implementation, set up on its inputs and checked. */
interface Impl {
  name: ImplName;
  /** Each pass it has, run once; resolves when the GPU queue is done. */
  passes: Partial<Record<Pass, () => Promise<void>>>;
  /** Largest bytes live while it was set up and ran its checked pass. */
  peakBytes: number;
  /** Score entries per head each of its products computes (for its GFLOPS). */
  scores: ComputedScores;
  release: () => Promise<void>;
}

export async function run(options: AttentionBenchOptions = {}): Promise<BenchResult> {
  const gpu = await acquireGpu();
  const software = isSoftwareAdapter(gpu.adapter);
  // A software adapter runs batch 1 so the sweep takes minutes; the case name says so.
  const B = software ? 1 : 4;
  const plan: TimingPlan = { warmup: 1, runs: Math.max(MIN_RUNS, options.runs ?? MIN_RUNS) };
  const notes = [
    `B=${B} H=${H} D=${D}, causal, inputs uniform in [-1, 1]; timing: every pass (fwd, fwdbwd) of every impl interleaved run by run, ${plan.warmup} warm-up + ${plan.runs} timed runs each, from recording to queue completion; rows are median [min–max] of the runs`,
    'impls: ours = fused flash kernels (causal key blocks skipped); unfused-full = our matmul + softmax kernels with T×T scores materialised, every block computed; unfused-block-causal = the same kernels with the key blocks above the diagonal never computed, at the block size of our forward kernel (BR×BC per case below), still unfused; both unfused impls run the same matmul tiles (per case below), so only the skipping differs between them; onnxruntime-web = its MultiHeadAttention with a causal additive bias, or its MatMul/Softmax graph where MultiHeadAttention cannot run or fails the output check (per case below), forward only',
    '*_skip_speedup (on unfused-block-causal) = unfused-full ms / unfused-block-causal ms, the gain of causal skipping; *_fusion_speedup (on ours) = unfused-block-causal ms / ours ms, the gain of fusion; both per run (runs are interleaved, so run i of each impl is a pair), median [min–max]',
    `checked before timing against the CPU reference (src/model/cpu/attention.ts, f64 sums) on ${REFERENCE_SCORES / 2 ** 20}·2^20 / T² heads (at least 1, at most all B·H; sampled): o (and ours' lse) within ${OUTPUT_TOLERANCE.atol} + ${OUTPUT_TOLERANCE.rtol}·|ref|, dq, dk, dv within ${GRADIENT_TOLERANCE.atol} + ${GRADIENT_TOLERANCE.rtol}·|ref|; a mismatch fails the benchmark`,
    'gflops = matmul work / time, 2·D flops per computed score entry per product: fwd 4·D·E_fwd (S = Q·Kᵀ, O = P·V), fwdbwd adds 2·D·E_dq (dQ) + 6·D·E_dkdv (dV, dP, dK), E = computed score entries summed over heads: T² for unfused-full and onnxruntime-web (its additive mask cannot skip), the computed blocks for unfused-block-causal (E_fwd = E_dq = E_dkdv) and for ours (each kernel its own grid: forward and dQ query blocks walk key blocks up to the diagonal, dK/dV key blocks walk query blocks from the diagonal); ours also recomputes S twice and dP once more in its backward, not credited',
    'peak_bytes: ours and unfused-* = largest bytes live in our buffer pool during set-up and one fwdbwd pass (inputs, outputs, saved and scratch tensors; unfused-block-causal allocates the full T×T probs and dscores, writing the computed blocks only); onnxruntime-web = largest bytes of GPU buffers live on its device during session creation and one forward run',
  ];
  if (software) notes.push('software adapter: B=1 instead of 4');
  if (ORT_UNAVAILABLE) notes.push(ORT_UNAVAILABLE);
  const ort = ORT_UNAVAILABLE ? undefined : await trackedOrt();
  const rows: BenchRow[] = [];

  for (const T of SEQUENCE_LENGTHS) {
    const name = software ? `T=${T} (B=1)` : `T=${T}`;
    if (options.cases?.length && !options.cases.some((c) => name.startsWith(c))) continue;
    const shape: Shape = { B, H, T, D };
    const data = [1, 2, 3, 4].map((seed) => randomUniform(B * H * T * D, seed)) as Inputs;
    const reference = attentionReference(shape, ...data);
    const block = attentionTiles(gpu, 'forward', D, T);
    const impls: Impl[] = [];
    try {
      for (const impl of ['ours', 'unfused-full', 'unfused-block-causal'] as const) {
        impls.push(await poolImpl(gpu, impl, shape, block, data, reference, name));
      }
      const ortImpl = ort && (await ortAttention(ort, shape, data, reference, name));
      if (ortImpl) impls.push(ortImpl.impl);
      notes.push(workNote(name, T, block, impls), launchNote(gpu, name, shape));
      if (ortImpl) {
        const passedOver = ortImpl.passedOver.map((why) => `; passed over ${why}`).join('');
        notes.push(`${name}: onnxruntime-web ran ${ortImpl.graph}${passedOver}`);
      }

      const timed = impls.flatMap((impl) =>
        Object.entries(impl.passes).map(([pass, once]) => [key(impl.name, pass as Pass), once]),
      );
      const ms = await interleavedMs(Object.fromEntries(timed) as Record<string, () => Promise<void>>, plan);
      const caseRows = rowsOf(name, impls, ms, B * H);
      for (const row of caseRows.filter((r) => !/_(min|max)$/.test(r.metric))) {
        console.log(`${name} ${row.impl} ${row.metric}: ${row.value.toFixed(row.metric.endsWith('bytes') ? 0 : 3)}`);
      }
      rows.push(...caseRows);
    } finally {
      for (const impl of impls) await impl.release();
    }
  }
  gpu.destroy();
  return { adapter: { ...gpu.adapter, software }, rows, notes };
}

/** The timed runs of one implementation's pass are keyed "impl pass". */
const key = (impl: ImplName, pass: Pass) => `${impl} ${pass}`;

/** One case's rows: time, GFLOPS and peak memory per implementation, and the two gains, run by run. */
function rowsOf(name: string, impls: Impl[], ms: Record<string, number[]>, heads: number): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const impl of impls) {
    const flops = attentionFlops(heads, D, impl.scores);
    const work: Record<Pass, number> = { fwd: flops.forward, fwdbwd: flops.forward + flops.backward };
    const passes = Object.keys(impl.passes) as Pass[];
    for (const pass of passes) rows.push(...spreadRows(name, impl.name, `${pass}_ms`, ms[key(impl.name, pass)]!));
    for (const pass of passes) {
      const gflops = ms[key(impl.name, pass)]!.map((t) => work[pass] / (t * 1e6));
      rows.push(...spreadRows(name, impl.name, `${pass}_gflops`, gflops));
    }
    rows.push({ case: name, impl: impl.name, metric: 'peak_bytes', value: impl.peakBytes });
  }
  // Run i of every pass ran in the same turn, so their ratio is taken run by run.
  const speedup = (pass: Pass, slow: ImplName, fast: ImplName) =>
    ms[key(slow, pass)]!.map((t, run) => t / ms[key(fast, pass)]![run]!);
  for (const pass of ['fwd', 'fwdbwd'] as const) {
    rows.push(
      ...spreadRows(
        name,
        'unfused-block-causal',
        `${pass}_skip_speedup`,
        speedup(pass, 'unfused-full', 'unfused-block-causal'),
      ),
      ...spreadRows(name, 'ours', `${pass}_fusion_speedup`, speedup(pass, 'unfused-block-causal', 'ours')),
    );
  }
  return rows;
}

/** q, k, v, dout, each [B, H, T, D]. */
type Inputs = [Float32Array, Float32Array, Float32Array, Float32Array];

/** What the computed blocks of one case are: the block sizes and the share of T×T each impl computes. */
function workNote(name: string, T: number, block: CausalBlock, impls: Impl[]): string {
  const share = (impl: Impl) => {
    const s = impl.scores;
    const pct = (x: number) => `${((100 * x) / (T * T)).toFixed(1)}%`;
    return s.forward === s.dq && s.dq === s.dkdv
      ? `${impl.name} ${pct(s.forward)}`
      : `${impl.name} ${pct(s.forward)} fwd, ${pct(s.dq)} dQ, ${pct(s.dkdv)} dK/dV`;
  };
  const blockCausal = queryBlockScores(T, block.BR, block.BC);
  const tile = (kind: ProductKind) => {
    const t = blockTiles(block, kind, D);
    return `${kind} ${t.TILE_M}×${t.TILE_N}×${t.TILE_K} TM ${t.TM}`;
  };
  return (
    `${name}: block BR×BC = ${block.BR}×${block.BC}; unfused matmul tiles (M×N×K): ${(['scores', 'over-keys', 'over-queries'] as const).map(tile).join(', ')}; ` +
    `score entries computed, of T×T: ${impls.map(share).join('; ')}; ` +
    `skipping alone cuts the unfused products' work ${((T * T) / blockCausal).toFixed(2)}×`
  );
}

/** How our three kernels run on this adapter: the variants its facts chose, tiles, threads and splits. */
function launchNote(gpu: Gpu, name: string, shape: Shape): string {
  const launch = (kernel: 'forward' | 'dq' | 'dkdv') => {
    const l = attentionLaunch(gpu, kernel, shape);
    return `${kernel} ${l.BR}×${l.BC} tiles of ${l.WG} threads in ${l.splits} split${l.splits > 1 ? 's' : ''}`;
  };
  const kernels = (['forward', 'dq', 'dkdv'] as const).map(launch).join(', ');
  return `${name}: ours on ${gpu.variants.shapes} shapes (${gpu.variants.reductions} reductions): ${kernels}`;
}

/** Our three implementations on our device: set up, run once, checked, and the pool's peak over that. */
async function poolImpl(
  gpu: Gpu,
  impl: Exclude<ImplName, 'onnxruntime-web'>,
  s: Shape,
  block: CausalBlock,
  data: Inputs,
  reference: AttentionReference,
  caseName: string,
): Promise<Impl> {
  const { B, H, T } = s;
  const n = B * H * T * s.D;
  const before = gpu.pool.stats().liveBytes;
  gpu.pool.resetPeak();
  const [q, k, v, dout] = data.map((x) => upload(gpu, x)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
  const [o, dq, dk, dv] = [storage(gpu, n), storage(gpu, n), storage(gpu, n), storage(gpu, n)];
  // Only ours saves the log-sum-exp; the unfused impls save the probabilities (scratch below).
  const lse = impl === 'ours' ? storage(gpu, B * H * T) : undefined;
  const owned = [q, k, v, dout, o, dq, dk, dv, ...(lse ? [lse] : [])];

  const record = async (batch: Batch, backward: boolean) => {
    if (impl === 'ours') {
      const args = { ...s, q, k, v, o, lse: lse! };
      await attentionForward(gpu, batch, args);
      if (backward) await attentionBackward(gpu, batch, { ...args, dout, dq, dk, dv });
      return;
    }
    const probs = batch.scratch(B * H * T * T * 4, 'probs');
    const dscores = backward ? batch.scratch(B * H * T * T * 4, 'dscores') : undefined;
    const buffers = { q, k, v, o, probs };
    if (impl === 'unfused-full') {
      await unfusedForward(gpu, batch, s, buffers, block);
      if (dscores) await unfusedBackward(gpu, batch, s, { ...buffers, dout, dq, dk, dv, dscores }, block);
    } else {
      await blockCausalForward(gpu, batch, s, block, buffers);
      if (dscores) await blockCausalBackward(gpu, batch, s, block, { ...buffers, dout, dq, dk, dv, dscores });
    }
  };
  const pass = (backward: boolean) => async () => {
    const batch = createBatch(gpu, { label: `attention-${impl}` });
    await record(batch, backward);
    await batch.submit();
    await gpu.idle();
  };

  await pass(true)();
  const peakBytes = gpu.pool.stats().peakBytes - before;
  const got: AttentionOutputs = {
    o: await readFloats(gpu, o, n),
    lse: lse && (await readFloats(gpu, lse, B * H * T)),
    dq: await readFloats(gpu, dq, n),
    dk: await readFloats(gpu, dk, n),
    dv: await readFloats(gpu, dv, n),
  };
  const release = async () => {
    for (const b of owned) gpu.pool.release(b);
  };
  try {
    checkAttention(`${caseName} ${impl}`, got, reference);
  } catch (e) {
    await release();
    throw e;
  }
  const scores =
    impl === 'unfused-full'
      ? fullScores(T)
      : impl === 'unfused-block-causal'
        ? uniformScores(queryBlockScores(T, block.BR, block.BC))
        : oursScores(gpu, T, s.D);
  return { name: impl, passes: { fwd: pass(false), fwdbwd: pass(true) }, peakBytes, scores, release };
}

function uniformScores(entries: number): ComputedScores {
  return { forward: entries, dq: entries, dkdv: entries };
}

/** What our kernels' grids compute, with the tiles they pick on this adapter (src/gpu/attention.ts). */
function oursScores(gpu: Gpu, T: number, headDim: number): ComputedScores {
  const tiles = (kernel: 'forward' | 'dq' | 'dkdv') => attentionTiles(gpu, kernel, headDim, T);
  const [fwd, dq, dkdv] = [tiles('forward'), tiles('dq'), tiles('dkdv')];
  return {
    forward: queryBlockScores(T, fwd.BR, fwd.BC),
    dq: queryBlockScores(T, dq.BR, dq.BC),
    dkdv: keyBlockScores(T, dkdv.BR, dkdv.BC),
  };
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

/**
 * ORT's contrib MultiHeadAttention with a causal additive bias; the plain MatMul/Softmax graph if the
 * provider refuses it. Set up, run once, and its output checked (in our [B, H, T, D] layout).
 */
async function ortAttention(
  t: TrackedOrt,
  s: Shape,
  data: Inputs,
  reference: AttentionReference,
  caseName: string,
): Promise<{ impl: Impl; graph: string; passedOver: string[] }> {
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
  // MultiHeadAttention takes [B, T, H·D]: the same heads as ours, laid out token-major.
  const tokenMajor = (x: Float32Array) => swapMiddleAxes(x, B, H, T, D);
  const headMajor = (x: Float32Array) => swapMiddleAxes(x, B, T, H, D);

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
      maskDims: [1, 1, T, T],
      toInput: tokenMajor,
      fromOutput: headMajor,
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
      maskDims: [T, T],
      toInput: (x: Float32Array) => x,
      fromOutput: (x: Float32Array) => x,
    },
  ];
  // A graph that cannot run here, or runs and gives wrong outputs, is passed over (and the note says why).
  const passedOver: string[] = [];
  for (const g of graphs) {
    const before = t.liveBytes();
    t.takePeak();
    const tensors: Tensor[] = [];
    let session: InferenceSession | undefined;
    const release = async () => {
      await session?.release();
      for (const tensor of tensors) tensor.dispose();
    };
    try {
      const open = await ortSession(g.model);
      session = open;
      const tensor = (dims: number[], values?: Float32Array) => {
        tensors.push(gpuTensor(dims, values));
        return tensors.at(-1)!;
      };
      const feeds = {
        q: tensor(g.dims, g.toInput(data[0])),
        k: tensor(g.dims, g.toInput(data[1])),
        v: tensor(g.dims, g.toInput(data[2])),
        bias: tensor(g.maskDims, mask),
      };
      const fetches = { o: tensor(g.dims) };
      const forward = async () => {
        await open.run(feeds, fetches);
        await device.queue.onSubmittedWorkDone();
      };
      await forward();
      const peakBytes = t.takePeak() - before;
      const o = g.fromOutput(await ortReadFloats(fetches.o));
      checkAttention(`${caseName} onnxruntime-web`, { o }, reference);
      const impl: Impl = {
        name: 'onnxruntime-web',
        passes: { fwd: forward },
        peakBytes,
        scores: fullScores(T),
        release,
      };
      return { impl, graph: g.graph, passedOver };
    } catch (e) {
      await release();
      const message = e instanceof Error ? e.message : String(e);
      const why = e instanceof OutputCheckError ? `failed the output check: ${message}` : `could not run: ${message}`;
      passedOver.push(`${g.graph} ${why}`);
      console.log(`onnxruntime-web ${g.graph} ${why}`);
    }
  }
  throw new Error(`onnxruntime-web: no graph ran and passed the output check (${passedOver.join('; ')})`);
}
