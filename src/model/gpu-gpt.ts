// The GPT on the GPU: forward, backward and AdamW with our kernels, every buffer
// allocated once for a fixed (B, T) and reused by every step.
import {
  adamw,
  attentionBackward,
  attentionForward,
  type Batch,
  type BatchProfile,
  type BufferRef,
  createBatch,
  crossEntropyBackward,
  crossEntropyForward,
  type DecaySegments,
  embeddingBackward,
  embeddingForward,
  type Gpu,
  geluBackward,
  geluForward,
  globalNorm,
  joinQkv,
  layernormBackward,
  layernormForward,
  matmul,
  mergeHeads,
  readFloats,
  STORAGE,
  splitHeads,
  splitQkv,
  sumBlocksInto,
  uploadDecaySegments,
} from '../gpu';
import { checkKernelLimits, trainingGpuNeeds } from './gpu-fit';
import { type TrainHyper, UNCORRECTED_STEP } from './hyper';
import { decaySegments, type LinearTensors, type NormTensors, type ParamLayout, type TensorSpec } from './layout';

/** A LayerNorm's output [N, C] and the row statistics [N] its backward needs. */
interface NormActivations {
  y: GPUBuffer;
  mean: GPUBuffer;
  rstd: GPUBuffer;
}

/** Activations one layer keeps for its backward pass. */
interface LayerActivations {
  input: GPUBuffer; // residual stream entering the layer [N, C]
  ln1: NormActivations;
  qkv: GPUBuffer; // [N, 3C]
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer; // [B, H, T, D]
  att: GPUBuffer;
  lse: GPUBuffer; // attention output [B, H, T, D], log-sum-exp [B, H, T]
  attMerged: GPUBuffer; // [N, C]
  mid: GPUBuffer; // residual after attention [N, C]
  ln2: NormActivations;
  fc: GPUBuffer;
  gelu: GPUBuffer; // [N, 4C]
}

export interface StepResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  profile?: BatchProfile;
}

export interface GpuGpt {
  readonly layout: ParamLayout;
  readonly B: number;
  readonly T: number;
  /** Bytes of GPU memory this model holds: parameters, optimiser state, activations. */
  readonly bytes: number;
  loadParams(flat: Float32Array): void;
  readParams(): Promise<Float32Array>;
  readGrads(): Promise<Float32Array>;
  /**
   * Zeroes AdamW's moments and its step count (a new round starts a fresh inner optimiser); or, given
   * `secondMoment`, starts v from it, m from zero and the step count at UNCORRECTED_STEP.
   */
  resetOptimizer(secondMoment?: Float32Array): void;
  /** AdamW's second moment v, as it stands. */
  readSecondMoment(): Promise<Float32Array>;
  /** One training step on inputs/targets of B·T tokens: forward, backward, AdamW. */
  step(
    inputs: Uint32Array,
    targets: Uint32Array,
    hyper: TrainHyper,
    options?: { profile?: boolean },
  ): Promise<StepResult>;
  /** Mean loss without updating anything. */
  loss(inputs: Uint32Array, targets: Uint32Array): Promise<number>;
  /** Logits [B·T, vocab] for the inputs. */
  logits(inputs: Uint32Array): Promise<Float32Array>;
  destroy(): void;
}

/**
 * Builds the GPU model for batches of B sequences of T tokens. Checks the shape against our
 * kernels' limits and its largest buffers against the adapter's first, and allocates everything inside an out-of-memory
 * error scope, so a config that does not fit fails with a clear error, not later mid-step.
 */
export async function createGpuGpt(gpu: Gpu, layout: ParamLayout, shape: { B: number; T: number }): Promise<GpuGpt> {
  const { B, T } = shape;
  const { width: C, heads: H, vocab: V, layers: L, context } = layout.config;
  if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1)
    throw new Error(`batch shape must be positive integers, got B=${B} T=${T}`);
  if (T > context) throw new Error(`sequence length ${T} exceeds the model's context ${context}`);
  checkKernelLimits(layout.config);
  const D = C / H;
  const N = B * T;

  // The largest buffer: the flat parameter vector, the logits or the MLP activations.
  const largest = trainingGpuNeeds(layout.config, shape).largestBuffer.bytes;
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  if (largest > limit) {
    throw new Error(
      `model does not fit this GPU: it needs a ${largest}-byte buffer, the adapter binds at most ${limit}; ` +
        'use a smaller batch, context, vocabulary or width',
    );
  }

  const owned: GPUBuffer[] = [];
  let bytes = 0;
  const alloc = (n: number, label: string) => {
    const buffer = gpu.device.createBuffer({ size: Math.max(16, Math.ceil((n * 4) / 16) * 16), usage: STORAGE, label });
    owned.push(buffer);
    bytes += buffer.size;
    return buffer;
  };
  gpu.device.pushErrorScope('out-of-memory');

  const params = alloc(layout.total, 'params');
  const grads = alloc(layout.total, 'grads');
  const m = alloc(layout.total, 'adam-m');
  const v = alloc(layout.total, 'adam-v');
  const segments: DecaySegments = uploadDecaySegments(gpu, layout.total, decaySegments(layout));
  const P = layout.params;
  /** One tensor of the parameters, or of the gradients, as a kernel operand. */
  const p = (t: TensorSpec): BufferRef => ({ buffer: params, offset: t.offset * 4, size: t.size * 4 });
  const g = (t: TensorSpec): BufferRef => ({ buffer: grads, offset: t.offset * 4, size: t.size * 4 });

  const normActivations = (name: string): NormActivations => ({
    y: alloc(N * C, name),
    mean: alloc(N, `${name}.mean`),
    rstd: alloc(N, `${name}.rstd`),
  });
  const layers: LayerActivations[] = [];
  for (let l = 0; l < L; l++) {
    layers.push({
      input: alloc(N * C, `h${l}.input`),
      ln1: normActivations(`h${l}.ln1`),
      qkv: alloc(N * 3 * C, `h${l}.qkv`),
      q: alloc(N * C, `h${l}.q`),
      k: alloc(N * C, `h${l}.k`),
      v: alloc(N * C, `h${l}.v`),
      att: alloc(N * C, `h${l}.att`),
      lse: alloc(B * H * T, `h${l}.lse`),
      attMerged: alloc(N * C, `h${l}.att.merged`),
      mid: alloc(N * C, `h${l}.mid`),
      ln2: normActivations(`h${l}.ln2`),
      fc: alloc(N * 4 * C, `h${l}.fc`),
      gelu: alloc(N * 4 * C, `h${l}.gelu`),
    });
  }
  const finalResidual = alloc(N * C, 'residual.final');
  const lnf = normActivations('lnf');
  const logits = alloc(N * V, 'logits');
  const losses = alloc(N, 'losses');
  const meanLoss = alloc(1, 'loss');
  const gradNorm = alloc(1, 'grad-norm');
  const inputTokens = alloc(N, 'inputs');
  const targetTokens = alloc(N, 'targets');
  // Backward scratch, reused by every layer.
  const dResidual = alloc(N * C, 'd.residual');
  const dLn = alloc(N * C, 'd.ln');
  const dAttMerged = alloc(N * C, 'd.att.merged');
  const dAtt = alloc(N * C, 'd.att');
  const dq = alloc(N * C, 'd.q');
  const dk = alloc(N * C, 'd.k');
  const dv = alloc(N * C, 'd.v');
  const dqkv = alloc(N * 3 * C, 'd.qkv');
  const dGelu = alloc(N * 4 * C, 'd.gelu');
  const dFc = alloc(N * 4 * C, 'd.fc');
  const outOfMemory = await gpu.device.popErrorScope();
  if (outOfMemory) {
    for (const buffer of owned) buffer.destroy();
    gpu.pool.release(segments.buffer);
    throw new Error(
      `model does not fit this GPU: allocating ${(bytes / 2 ** 20).toFixed(1)} MiB failed (${outOfMemory.message})`,
    );
  }

  const heads = { B, T, H, D };
  let adamStep = 0;

  const writeTokens = (buffer: GPUBuffer, tokens: Uint32Array, what: string) => {
    if (tokens.length !== N) throw new Error(`${what} must hold B·T = ${N} tokens, got ${tokens.length}`);
    for (const t of tokens) if (t >= V) throw new Error(`${what} holds token ${t}, outside the vocabulary of ${V}`);
    gpu.device.queue.writeBuffer(buffer, 0, tokens.buffer as ArrayBuffer, tokens.byteOffset, tokens.byteLength);
  };

  /** y = x·W + b for the linear layer w; `accumulate` adds into y (the residual stream). */
  const linear = (
    batch: Batch,
    x: BufferRef,
    w: LinearTensors,
    y: BufferRef,
    K: number,
    outN: number,
    accumulate = false,
  ) => matmul(gpu, batch, { a: x, b: p(w.w), bias: p(w.b), c: y, M: N, K, N: outN, accumulate });

  /** Gradients of y = x·W + b given dy: dW += xᵀ·dy, db += Σ_rows dy, dx = dy·Wᵀ. */
  const linearBackward = async (
    batch: Batch,
    x: BufferRef,
    dy: BufferRef,
    w: LinearTensors,
    dx: BufferRef,
    K: number,
    outN: number,
  ) => {
    await matmul(gpu, batch, { a: x, b: dy, c: g(w.w), M: K, K: N, N: outN, transA: true, accumulate: true });
    await sumBlocksInto(gpu, batch, { src: dy, dst: g(w.b), n: outN, blocks: N });
    await matmul(gpu, batch, { a: dy, b: p(w.w), c: dx, M: N, K: outN, N: K, transB: true });
  };

  /** out = LayerNorm(x)·g + b with the norm's tensors w, keeping the row statistics. */
  const norm = (batch: Batch, x: BufferRef, w: NormTensors, out: NormActivations) =>
    layernormForward(gpu, batch, { x, gamma: p(w.g), beta: p(w.b), ...out, rows: N, C });

  /** The LayerNorm's backward: dx (= or += with `accumulate`), and dg, db added into the gradients. */
  const normBackward = (
    batch: Batch,
    dy: BufferRef,
    x: BufferRef,
    out: NormActivations,
    w: NormTensors,
    dx: BufferRef,
    accumulate = false,
  ) =>
    layernormBackward(gpu, batch, {
      dy,
      x,
      mean: out.mean,
      rstd: out.rstd,
      gamma: p(w.g),
      dx,
      dgamma: g(w.g),
      dbeta: g(w.b),
      rows: N,
      C,
      accumulateDx: accumulate,
    });

  async function forward(batch: Batch): Promise<void> {
    await embeddingForward(gpu, batch, {
      tokens: inputTokens,
      wte: p(P.wte),
      wpe: p(P.wpe),
      out: layers[0]?.input ?? finalResidual,
      B,
      T,
      C,
      V,
      maxT: context,
    });
    for (let l = 0; l < L; l++) {
      const a = layers[l]!;
      const w = P.layers[l]!;
      const next = layers[l + 1]?.input ?? finalResidual;
      await norm(batch, a.input, w.ln1, a.ln1);
      await linear(batch, a.ln1.y, w.attn.qkv, a.qkv, C, 3 * C);
      await splitQkv(gpu, batch, { qkv: a.qkv, q: a.q, k: a.k, v: a.v, ...heads });
      await attentionForward(gpu, batch, { q: a.q, k: a.k, v: a.v, o: a.att, lse: a.lse, ...heads });
      await mergeHeads(gpu, batch, { o: a.att, y: a.attMerged, ...heads });
      batch.copy(a.input, a.mid, N * C * 4);
      await linear(batch, a.attMerged, w.attn.proj, a.mid, C, C, true);
      await norm(batch, a.mid, w.ln2, a.ln2);
      await linear(batch, a.ln2.y, w.mlp.fc, a.fc, C, 4 * C);
      await geluForward(gpu, batch, { x: a.fc, y: a.gelu, n: N * 4 * C });
      batch.copy(a.mid, next, N * C * 4);
      await linear(batch, a.gelu, w.mlp.proj, next, 4 * C, C, true);
    }
    await norm(batch, finalResidual, P.lnf, lnf);
    // Tied head: logits = lnf · wteᵀ.
    await matmul(gpu, batch, { a: lnf.y, b: p(P.wte), c: logits, M: N, K: C, N: V, transB: true });
  }

  async function backward(batch: Batch, inputs: Uint32Array): Promise<void> {
    batch.clear(grads);
    await crossEntropyBackward(gpu, batch, {
      logits,
      targets: targetTokens,
      rows: N,
      V,
      dlogits: logits,
      dlossScale: 1 / N,
    });
    // logits = lnf · wteᵀ: dlnf = dlogits · wte, dwte += dlogitsᵀ · lnf.
    await matmul(gpu, batch, { a: logits, b: p(P.wte), c: dLn, M: N, K: V, N: C });
    await matmul(gpu, batch, { a: logits, b: lnf.y, c: g(P.wte), M: V, K: N, N: C, transA: true, accumulate: true });
    await normBackward(batch, dLn, finalResidual, lnf, P.lnf, dResidual);
    for (let l = L - 1; l >= 0; l--) {
      const a = layers[l]!;
      const w = P.layers[l]!;
      // dResidual holds the gradient of this layer's output; the residual path passes it through unchanged.
      await linearBackward(batch, a.gelu, dResidual, w.mlp.proj, dGelu, 4 * C, C);
      await geluBackward(gpu, batch, { x: a.fc, dy: dGelu, dx: dFc, n: N * 4 * C });
      await linearBackward(batch, a.ln2.y, dFc, w.mlp.fc, dLn, C, 4 * C);
      await normBackward(batch, dLn, a.mid, a.ln2, w.ln2, dResidual, true);
      await linearBackward(batch, a.attMerged, dResidual, w.attn.proj, dAttMerged, C, C);
      await splitHeads(gpu, batch, { dy: dAttMerged, dO: dAtt, ...heads });
      await attentionBackward(gpu, batch, {
        q: a.q,
        k: a.k,
        v: a.v,
        o: a.att,
        lse: a.lse,
        dout: dAtt,
        dq,
        dk,
        dv,
        ...heads,
      });
      await joinQkv(gpu, batch, { dq, dk, dv, dqkv, ...heads });
      await linearBackward(batch, a.ln1.y, dqkv, w.attn.qkv, dLn, C, 3 * C);
      await normBackward(batch, dLn, a.input, a.ln1, w.ln1, dResidual, true);
    }
    await embeddingBackward(gpu, batch, {
      tokens: inputs,
      dout: dResidual,
      dwte: g(P.wte),
      dwpe: g(P.wpe),
      B,
      T,
      C,
      V,
      maxT: context,
    });
  }

  const readScalar = async (buffer: GPUBuffer) => (await readFloats(gpu, buffer, 1))[0]!;

  return {
    layout,
    B,
    T,
    bytes,
    loadParams(flat) {
      if (flat.length !== layout.total)
        throw new Error(`parameter vector has ${flat.length} floats, layout v${layout.version} needs ${layout.total}`);
      gpu.device.queue.writeBuffer(params, 0, flat.buffer as ArrayBuffer, flat.byteOffset, flat.byteLength);
    },
    readParams: () => readFloats(gpu, params, layout.total),
    readGrads: () => readFloats(gpu, grads, layout.total),
    resetOptimizer(secondMoment) {
      const encoder = gpu.device.createCommandEncoder({ label: 'reset-optimizer' });
      encoder.clearBuffer(m);
      encoder.clearBuffer(v);
      gpu.device.queue.submit([encoder.finish()]);
      adamStep = 0;
      if (!secondMoment) return;
      if (secondMoment.length !== layout.total)
        throw new Error(`second moment has ${secondMoment.length} floats, the model ${layout.total}`);
      gpu.device.queue.writeBuffer(
        v,
        0,
        secondMoment.buffer as ArrayBuffer,
        secondMoment.byteOffset,
        secondMoment.byteLength,
      );
      adamStep = UNCORRECTED_STEP;
    },
    readSecondMoment: () => readFloats(gpu, v, layout.total),
    async step(inputs, targets, hyper, options = {}) {
      writeTokens(inputTokens, inputs, 'inputs');
      writeTokens(targetTokens, targets, 'targets');
      const batch = createBatch(gpu, { label: 'train-step', profile: options.profile });
      await forward(batch);
      await crossEntropyForward(gpu, batch, { logits, targets: targetTokens, rows: N, V, losses, meanLoss });
      await backward(batch, inputs);
      await globalNorm(gpu, batch, { grads, norm: gradNorm, n: layout.total });
      adamStep++;
      const clip = hyper.gradClip === undefined ? undefined : { gradNorm, maxNorm: hyper.gradClip };
      await adamw(gpu, batch, { ...hyper, params, grads, m, v, n: layout.total, step: adamStep, segments, clip });
      await batch.submit();
      const profile = options.profile ? await batch.profile() : undefined;
      return { loss: await readScalar(meanLoss), gradNorm: await readScalar(gradNorm), profile };
    },
    async loss(inputs, targets) {
      writeTokens(inputTokens, inputs, 'inputs');
      writeTokens(targetTokens, targets, 'targets');
      const batch = createBatch(gpu, { label: 'eval' });
      await forward(batch);
      await crossEntropyForward(gpu, batch, { logits, targets: targetTokens, rows: N, V, losses, meanLoss });
      await batch.submit();
      return readScalar(meanLoss);
    },
    async logits(inputs) {
      writeTokens(inputTokens, inputs, 'inputs');
      const batch = createBatch(gpu, { label: 'logits' });
      await forward(batch);
      await batch.submit();
      return readFloats(gpu, logits, N * V);
    },
    destroy() {
      for (const buffer of owned) buffer.destroy();
      gpu.pool.release(segments.buffer);
    },
  };
}
