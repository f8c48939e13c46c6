import type { TrainHyper } from '../hyper';
import {
  decaySegments,
  type LinearTensors,
  type NormTensors,
  type ParamLayout,
  type TensorSpec,
  view,
} from '../layout';
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

/** Runs the model on inputs [B·T] (token ids); with targets [B·T] it also computes the mean loss. */
export function gptForwardCpu(
  layout: ParamLayout,
  params: Float32Array,
  inputs: Uint32Array,
  targets: Uint32Array | undefined,
  B: number,
  T: number,
): GptForwardCpuResult {
  const { vocab: V, context, heads: H, width: C } = layout.config;
  if (params.length !== layout.total)
    throw new RangeError(`params has ${params.length} floats, the layout needs ${layout.total}`);
  if (T > context) throw new RangeError(`sequence length ${T} exceeds the context ${context}`);
  if (inputs.length !== B * T) throw new RangeError(`inputs has ${inputs.length} tokens, B·T is ${B * T}`);
  if (targets && targets.length !== B * T)
    throw new RangeError(`targets has ${targets.length} tokens, B·T is ${B * T}`);
  const P = layout.params;
  const p = (t: TensorSpec) => view(params, t);
  const rows = B * T;
  const dims = { B, T, H, D: C / H };
  const attnShape: AttentionShape = { B, H, T, D: C / H };
  const layernorm = (x: Float32Array, n: NormTensors) =>
    layernormForwardCpu({ x, gamma: p(n.g), beta: p(n.b), rows, C });
  /** y = x·W + b for x [rows, nIn], W [nIn, nOut], b [nOut]. */
  const linear = (x: Float32Array, w: LinearTensors, nIn: number, nOut: number) =>
    matmulCpu({ a: x, b: p(w.w), bias: p(w.b), M: rows, N: nOut, K: nIn });

  let x = embeddingForwardCpu({ tokens: inputs, wte: p(P.wte), wpe: p(P.wpe), B, T, C });
  const blocks: BlockActivations[] = [];
  for (const w of P.layers) {
    const ln1 = layernorm(x, w.ln1);
    const qkv = linear(ln1.y, w.attn.qkv, C, 3 * C);
    const { q, k, v } = splitQkvCpu(qkv, dims);
    const attnMerged = mergeHeadsCpu(attentionForwardCpu(attnShape, q, k, v).o, dims);
    const afterAttn = add(x, linear(attnMerged, w.attn.proj, C, C));
    const ln2 = layernorm(afterAttn, w.ln2);
    const fc = linear(ln2.y, w.mlp.fc, C, 4 * C);
    const fcGelu = geluForwardCpu(fc);
    const output = add(afterAttn, linear(fcGelu, w.mlp.proj, 4 * C, C));
    blocks.push({ input: x, ln1, qkv, q, k, v, attnMerged, afterAttn, ln2, fc, fcGelu });
    x = output;
  }
  const lnf = layernorm(x, P.lnf);
  // Tied head: logits = lnf·wteᵀ, wte being [V, C].
  const logits = matmulCpu({ a: lnf.y, b: p(P.wte), M: rows, N: V, K: C, transB: true });
  const loss = targets ? crossEntropyForwardCpu({ logits, targets, rows, V }).mean : undefined;
  return { B, T, inputs, targets, logits, loss, blocks, finalResidual: x, lnf };
}

/**
 * The gradient of the mean loss with respect to every parameter, as ONE flat vector in
 * `layout` (padding zero). Needs the forward pass's result, run with targets.
 */
export function gptBackwardCpu(layout: ParamLayout, params: Float32Array, forward: GptForwardCpuResult): Float32Array {
  const { vocab: V, context, heads: H, width: C } = layout.config;
  const { B, T, inputs, targets, logits, blocks, finalResidual, lnf } = forward;
  if (!targets) throw new Error('gptBackwardCpu needs a forward pass run with targets');
  const P = layout.params;
  const p = (t: TensorSpec) => view(params, t);
  const grads = new Float32Array(layout.total);
  const g = (t: TensorSpec) => view(grads, t);
  const rows = B * T;
  const dims = { B, T, H, D: C / H };
  const attnShape: AttentionShape = { B, H, T, D: C / H };
  /** Backward of y = x·W + b: writes dW and db into `grads`, returns dx. */
  const linearBack = (dy: Float32Array, x: Float32Array, w: LinearTensors, nIn: number, nOut: number) => {
    const { dx, dw, db } = linearBackward(dy, x, p(w.w), rows, nIn, nOut);
    g(w.w).set(dw);
    g(w.b).set(db);
    return dx;
  };
  /** Backward of a LayerNorm: writes dgamma and dbeta into `grads`, returns dx. */
  const layernormBack = (dy: Float32Array, x: Float32Array, act: LayernormActivations, n: NormTensors) => {
    const { dx, dgamma, dbeta } = layernormBackwardCpu({
      dy,
      x,
      mean: act.mean,
      rstd: act.rstd,
      gamma: p(n.g),
      rows,
      C,
    });
    g(n.g).set(dgamma);
    g(n.b).set(dbeta);
    return dx;
  };

  // Loss → logits → the tied head: dlnf = dlogits·wte, dwte = dlogitsᵀ·lnf.
  const dlogits = Float32Array.from(crossEntropyBackwardCpu({ logits, targets, rows, V }));
  const dlnfY = matmulCpu({ a: dlogits, b: p(P.wte), M: rows, N: C, K: V });
  g(P.wte).set(matmulCpu({ a: dlogits, b: lnf.y, M: V, N: C, K: rows, transA: true }));

  // dx is the gradient of the residual stream, walked back through the blocks.
  let dx = layernormBack(dlnfY, finalResidual, lnf, P.lnf);
  for (let l = P.layers.length - 1; l >= 0; l--) {
    const act = blocks[l]!;
    const w = P.layers[l]!;
    // MLP half: x = a + mlp.proj(gelu(fc)); the residual passes dx straight to a.
    const dfc = geluBackwardCpu(act.fc, linearBack(dx, act.fcGelu, w.mlp.proj, 4 * C, C));
    const dLn2 = linearBack(dfc, act.ln2.y, w.mlp.fc, C, 4 * C);
    const dAfterAttn = add(dx, layernormBack(dLn2, act.afterAttn, act.ln2, w.ln2));
    // Attention half: a = input + attn.proj(merge(attention(split(qkv)))).
    const dMerged = linearBack(dAfterAttn, act.attnMerged, w.attn.proj, C, C);
    const { dq, dk, dv } = attentionBackwardCpu(attnShape, act.q, act.k, act.v, splitHeadsCpu(dMerged, dims));
    const dLn1 = linearBack(joinQkvCpu(dq, dk, dv, dims), act.ln1.y, w.attn.qkv, C, 3 * C);
    dx = add(dAfterAttn, layernormBack(dLn1, act.input, act.ln1, w.ln1));
  }

  // Embedding: wte gets the head's gradient plus the input lookup's.
  const emb = embeddingBackwardCpu({ tokens: inputs, dout: dx, V, maxT: context, B, T, C });
  g(P.wte).set(add(g(P.wte), emb.dwte));
  g(P.wpe).set(emb.dwpe);
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

/**
 * One training step: forward, backward, optional global-norm clipping, AdamW (weight decay
 * on matrices only). Updates `state` in place; returns the loss before the step and the
 * gradient's global norm before clipping.
 */
export function gptTrainStepCpu(
  layout: ParamLayout,
  state: GptCpuTrainState,
  batch: GptCpuBatch,
  hyper: TrainHyper,
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
