import type { AdamWHyperparameters } from '../../gpu/adamw';
import { decaySegments, type ParamLayout, tensor, view } from '../layout';
import { adamwStepCpu } from './adamw';
import { type AttentionShape, attentionBackwardCpu, attentionForwardCpu } from './attention';
import { crossEntropyBackwardCpu, crossEntropyForwardCpu } from './crossentropy';
import { embeddingBackwardCpu, embeddingForwardCpu } from './embedding';
import { geluBackwardCpu, geluForwardCpu } from './gelu';
import { joinQkvCpu, mergeHeadsCpu, splitHeadsCpu, splitQkvCpu } from './heads';
import { layernormBackwardCpu, layernormForwardCpu } from './layernorm';
import { matmulCpu } from './matmul';
import { globalNormCpu } from './norm';

/**
 * The whole GPT-2 (pre-LayerNorm) model on the CPU, written for reading: the oracle the GPU
 * model is tested against. Parameters and gradients are flat vectors in the layout of
 * src/model/layout.ts; activations are f32 like the GPU's, rows are the B·T positions.
 *
 *   x = wte[token] + wpe[t]
 *   per layer:  a = x + attn.proj(attention(split(ln1(x)·Wqkv + bqkv)))
 *               x = a + mlp.proj(gelu(ln2(a)·Wfc + bfc))
 *   logits = lnf(x)·wteᵀ          (the output head is tied to the token embedding)
 *   loss = mean over the B·T positions of −log softmax(logits)[target]
 */

/** A LayerNorm's output and the row statistics its backward needs. */
export interface LayernormActivations {
  /** [B·T, C] */
  y: Float32Array;
  /** [B·T] */
  mean: Float32Array;
  /** [B·T] 1 / √(variance + eps) */
  rstd: Float32Array;
}

/** What one transformer block saves for the backward pass. */
export interface BlockActivations {
  /** The residual stream entering the block [B·T, C]. */
  input: Float32Array;
  ln1: LayernormActivations;
  /** ln1·Wqkv + bqkv, [B·T, 3C] laid out [B, T, 3, H, D]. */
  qkv: Float32Array;
  /** The same split into heads, each [B, H, T, D]. */
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  /** Attention output with the heads merged back, [B·T, C]: the input of attn.proj. */
  attnMerged: Float32Array;
  /** The residual stream after the attention half, a = input + attn.proj(...), [B·T, C]. */
  afterAttn: Float32Array;
  ln2: LayernormActivations;
  /** ln2·Wfc + bfc, [B·T, 4C]: GELU's input. */
  fc: Float32Array;
  /** gelu(fc) [B·T, 4C]: the input of mlp.proj. */
  fcGelu: Float32Array;
}

export interface GptForwardCpuResult {
  B: number;
  T: number;
  inputs: Uint32Array;
  targets: Uint32Array | undefined;
  /** [B·T, vocab] */
  logits: Float32Array;
  /** Mean cross-entropy over the B·T positions; undefined without targets. */
  loss: number | undefined;
  blocks: BlockActivations[];
  /** The residual stream after the last block [B·T, C]: lnf's input. */
  finalResidual: Float32Array;
  lnf: LayernormActivations;
}

/** Reads tensors of a flat parameter (or gradient) vector by name. */
function tensorsOf(layout: ParamLayout, flat: Float32Array): (name: string) => Float32Array {
  return (name) => view(flat, tensor(layout, name));
}

/** y = x·W + b for x [rows, nIn], W [nIn, nOut], b [nOut]. */
function linearForward(
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  rows: number,
  nIn: number,
  nOut: number,
): Float32Array {
  return matmulCpu({ a: x, b: w, bias: b, M: rows, N: nOut, K: nIn });
}

/** Gradients of y = x·W + b given dy:  dx = dy·Wᵀ,  dW = xᵀ·dy,  db = Σ_rows dy. */
function linearBackward(dy: Float32Array, x: Float32Array, w: Float32Array, rows: number, nIn: number, nOut: number) {
  const dx = matmulCpu({ a: dy, b: w, M: rows, N: nIn, K: nOut, transB: true });
  const dw = matmulCpu({ a: x, b: dy, M: nIn, N: nOut, K: rows, transA: true });
  const db = new Float32Array(nOut);
  for (let o = 0; o < nOut; o++) {
    let sum = 0;
    for (let r = 0; r < rows; r++) sum += dy[r * nOut + o]!;
    db[o] = sum;
  }
  return { dx, dw, db };
}

/** Elementwise a + b, a fresh array: the residual connections. */
function add(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

function layernorm(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  rows: number,
  C: number,
): LayernormActivations {
  return layernormForwardCpu({ x, gamma, beta, rows, C });
}

/** Runs the model on inputs [B·T] (token ids); with targets [B·T] it also computes the mean loss. */
export function gptForwardCpu(
  layout: ParamLayout,
  params: Float32Array,
  inputs: Uint32Array,
  targets: Uint32Array | undefined,
  B: number,
  T: number,
): GptForwardCpuResult {
  const { vocab: V, context, layers, heads: H, width: C } = layout.config;
  if (params.length !== layout.total)
    throw new RangeError(`params has ${params.length} floats, the layout needs ${layout.total}`);
  if (T > context) throw new RangeError(`sequence length ${T} exceeds the context ${context}`);
  if (inputs.length !== B * T) throw new RangeError(`inputs has ${inputs.length} tokens, B·T is ${B * T}`);
  if (targets && targets.length !== B * T)
    throw new RangeError(`targets has ${targets.length} tokens, B·T is ${B * T}`);
  const p = tensorsOf(layout, params);
  const rows = B * T;
  const dims = { B, T, H, D: C / H };
  const attnShape: AttentionShape = { B, H, T, D: C / H };

  let x = embeddingForwardCpu({ tokens: inputs, wte: p('wte'), wpe: p('wpe'), B, T, C });
  const blocks: BlockActivations[] = [];
  for (let l = 0; l < layers; l++) {
    const w = (name: string) => p(`h${l}.${name}`);
    const ln1 = layernorm(x, w('ln1.g'), w('ln1.b'), rows, C);
    const qkv = linearForward(ln1.y, w('attn.qkv.w'), w('attn.qkv.b'), rows, C, 3 * C);
    const { q, k, v } = splitQkvCpu(qkv, dims);
    const attnMerged = mergeHeadsCpu(attentionForwardCpu(attnShape, q, k, v).o, dims);
    const afterAttn = add(x, linearForward(attnMerged, w('attn.proj.w'), w('attn.proj.b'), rows, C, C));
    const ln2 = layernorm(afterAttn, w('ln2.g'), w('ln2.b'), rows, C);
    const fc = linearForward(ln2.y, w('mlp.fc.w'), w('mlp.fc.b'), rows, C, 4 * C);
    const fcGelu = geluForwardCpu(fc);
    const output = add(afterAttn, linearForward(fcGelu, w('mlp.proj.w'), w('mlp.proj.b'), rows, 4 * C, C));
    blocks.push({ input: x, ln1, qkv, q, k, v, attnMerged, afterAttn, ln2, fc, fcGelu });
    x = output;
  }
  const lnf = layernorm(x, p('lnf.g'), p('lnf.b'), rows, C);
  // Tied head: logits = lnf·wteᵀ, wte being [V, C].
  const logits = matmulCpu({ a: lnf.y, b: p('wte'), M: rows, N: V, K: C, transB: true });
  const loss = targets ? crossEntropyForwardCpu({ logits, targets, rows, V }).mean : undefined;
  return { B, T, inputs, targets, logits, loss, blocks, finalResidual: x, lnf };
}

/**
 * The gradient of the mean loss with respect to every parameter, as ONE flat vector in
 * `layout` (padding zero). Needs the forward pass's result, run with targets.
 */
export function gptBackwardCpu(layout: ParamLayout, params: Float32Array, forward: GptForwardCpuResult): Float32Array {
  const { vocab: V, context, layers, heads: H, width: C } = layout.config;
  const { B, T, inputs, targets, logits, blocks, finalResidual, lnf } = forward;
  if (!targets) throw new Error('gptBackwardCpu needs a forward pass run with targets');
  const p = tensorsOf(layout, params);
  const grads = new Float32Array(layout.total);
  const g = tensorsOf(layout, grads);
  const rows = B * T;
  const dims = { B, T, H, D: C / H };
  const attnShape: AttentionShape = { B, H, T, D: C / H };

  // Loss → logits → the tied head: dlnf = dlogits·wte, dwte = dlogitsᵀ·lnf.
  const dlogits = Float32Array.from(crossEntropyBackwardCpu({ logits, targets, rows, V }));
  const dlnfY = matmulCpu({ a: dlogits, b: p('wte'), M: rows, N: C, K: V });
  g('wte').set(matmulCpu({ a: dlogits, b: lnf.y, M: V, N: C, K: rows, transA: true }));
  const lnfGrads = layernormBackwardCpu({
    dy: dlnfY,
    x: finalResidual,
    mean: lnf.mean,
    rstd: lnf.rstd,
    gamma: p('lnf.g'),
    rows,
    C,
  });
  g('lnf.g').set(lnfGrads.dgamma);
  g('lnf.b').set(lnfGrads.dbeta);

  // dx is the gradient of the residual stream, walked back through the blocks.
  let dx = lnfGrads.dx;
  for (let l = layers - 1; l >= 0; l--) {
    const act = blocks[l]!;
    const w = (name: string) => p(`h${l}.${name}`);
    const dw = (name: string) => g(`h${l}.${name}`);

    // MLP half: x = a + mlp.proj(gelu(fc)); the residual passes dx straight to a.
    const proj = linearBackward(dx, act.fcGelu, w('mlp.proj.w'), rows, 4 * C, C);
    dw('mlp.proj.w').set(proj.dw);
    dw('mlp.proj.b').set(proj.db);
    const dfc = geluBackwardCpu(act.fc, proj.dx);
    const fc = linearBackward(dfc, act.ln2.y, w('mlp.fc.w'), rows, C, 4 * C);
    dw('mlp.fc.w').set(fc.dw);
    dw('mlp.fc.b').set(fc.db);
    const ln2 = layernormBackwardCpu({
      dy: fc.dx,
      x: act.afterAttn,
      mean: act.ln2.mean,
      rstd: act.ln2.rstd,
      gamma: w('ln2.g'),
      rows,
      C,
    });
    dw('ln2.g').set(ln2.dgamma);
    dw('ln2.b').set(ln2.dbeta);
    const dAfterAttn = add(dx, ln2.dx);

    // Attention half: a = input + attn.proj(merge(attention(split(qkv)))).
    const attnProj = linearBackward(dAfterAttn, act.attnMerged, w('attn.proj.w'), rows, C, C);
    dw('attn.proj.w').set(attnProj.dw);
    dw('attn.proj.b').set(attnProj.db);
    const { dq, dk, dv } = attentionBackwardCpu(attnShape, act.q, act.k, act.v, splitHeadsCpu(attnProj.dx, dims));
    const qkv = linearBackward(joinQkvCpu(dq, dk, dv, dims), act.ln1.y, w('attn.qkv.w'), rows, C, 3 * C);
    dw('attn.qkv.w').set(qkv.dw);
    dw('attn.qkv.b').set(qkv.db);
    const ln1 = layernormBackwardCpu({
      dy: qkv.dx,
      x: act.input,
      mean: act.ln1.mean,
      rstd: act.ln1.rstd,
      gamma: w('ln1.g'),
      rows,
      C,
    });
    dw('ln1.g').set(ln1.dgamma);
    dw('ln1.b').set(ln1.dbeta);
    dx = add(dAfterAttn, ln1.dx);
  }

  // Embedding: wte gets the head's gradient plus the input lookup's.
  const emb = embeddingBackwardCpu({ tokens: inputs, dout: dx, V, maxT: context, B, T, C });
  g('wte').set(add(g('wte'), emb.dwte));
  g('wpe').set(emb.dwpe);
  return grads;
}

/** The optimizer state of a training run on the CPU. */
export interface GptCpuTrainState {
  params: Float32Array;
  /** AdamW's moment estimates, zero at the start, in the parameter layout. */
  m: Float32Array;
  v: Float32Array;
  /** Steps taken so far: 0 before the first; gptTrainStepCpu increments it. */
  step: number;
}

export interface GptCpuBatch {
  /** [B·T] token ids and their next tokens. */
  inputs: Uint32Array;
  targets: Uint32Array;
  B: number;
  T: number;
}

export interface GptCpuTrainHyper extends AdamWHyperparameters {
  /** When set, gradients are scaled to a global L2 norm of at most this. */
  gradClip?: number;
}

/**
 * One training step: forward, backward, optional global-norm clipping, AdamW (weight decay
 * on matrices only). Updates `state` in place; returns the loss before the step and the
 * gradient's global norm before clipping.
 */
export function gptTrainStepCpu(
  layout: ParamLayout,
  state: GptCpuTrainState,
  batch: GptCpuBatch,
  hyper: GptCpuTrainHyper,
): { loss: number; gradNorm: number } {
  const forward = gptForwardCpu(layout, state.params, batch.inputs, batch.targets, batch.B, batch.T);
  const grads = gptBackwardCpu(layout, state.params, forward);
  const gradNorm = globalNormCpu(grads);
  state.step += 1;
  const { lr, beta1, beta2, eps, weightDecay, gradClip } = hyper;
  adamwStepCpu(state, grads, {
    lr,
    beta1,
    beta2,
    eps,
    weightDecay,
    step: state.step,
    segments: decaySegments(layout),
    maxNorm: gradClip,
  });
  return { loss: forward.loss!, gradNorm };
}
