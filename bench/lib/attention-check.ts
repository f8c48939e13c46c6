// Checks an attention implementation's outputs against the CPU reference (src/model/cpu/attention.ts)
// before the benchmark times it. The reference costs O(T²·D) per head on the CPU, so at large T it
// is computed for a sample of the B·H heads, and each implementation's outputs are compared there.

import { attentionBackwardCpu, attentionForwardCpu } from '../../src/model/cpu/attention';
import { checkOutput, sampleIndices, type Tolerance } from './check';
import type { Shape } from './unfused-attention';

/**
 * |got − ref| ≤ atol + rtol·|ref|, as test/browser/attention.spec.ts: the reference sums in f64,
 * the GPU in f32. o and lse: one softmax-weighted sum of f32 products per element.
 */
export const OUTPUT_TOLERANCE: Tolerance = { atol: 1e-5, rtol: 1e-4 };
/** dq, dk, dv: sums over up to T rows of f32 products. */
export const GRADIENT_TOLERANCE: Tolerance = { atol: 1e-4, rtol: 1e-3 };
/** Score entries (heads × T²) the CPU reference computes per case: all heads at small T, at least one at any T. */
export const REFERENCE_SCORES = 2 ** 20;
const HEAD_SAMPLE_SEED = 12;

/** What an implementation produced, in [B, H, T, D] (lse [B, H, T]); the backward's gradients where it has one. */
export interface AttentionOutputs {
  o: Float32Array;
  lse?: Float32Array;
  dq?: Float32Array;
  dk?: Float32Array;
  dv?: Float32Array;
}

/** The reference outputs of the sampled heads, concatenated, and where they sit in the full outputs. */
export interface AttentionReference {
  /** The (b, h) heads checked, as indices b·H + h. */
  heads: Uint32Array;
  o: Float32Array;
  lse: Float32Array;
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
  /** Index in [B, H, T, D] of each element of o, dq, dk, dv above. */
  elements: Uint32Array;
  /** Index in [B, H, T] of each element of lse above. */
  rows: Uint32Array;
}

/** The CPU reference on heads sampled from q, k, v, dout ([B, H, T, D]). */
export function attentionReference(
  s: Shape,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  dout: Float32Array,
): AttentionReference {
  const { B, H, T, D } = s;
  const count = Math.max(1, Math.floor(REFERENCE_SCORES / (T * T)));
  const heads = sampleIndices(B * H, count, HEAD_SAMPLE_SEED);
  const size = T * D;
  const one = { B: 1, H: 1, T, D };
  const ref = {
    heads,
    o: new Float32Array(heads.length * size),
    lse: new Float32Array(heads.length * T),
    dq: new Float32Array(heads.length * size),
    dk: new Float32Array(heads.length * size),
    dv: new Float32Array(heads.length * size),
    elements: new Uint32Array(heads.length * size),
    rows: new Uint32Array(heads.length * T),
  };
  for (const [j, head] of heads.entries()) {
    const slice = (x: Float32Array) => x.subarray(head * size, (head + 1) * size);
    const fwd = attentionForwardCpu(one, slice(q), slice(k), slice(v));
    const bwd = attentionBackwardCpu(one, slice(q), slice(k), slice(v), slice(dout));
    ref.o.set(fwd.o, j * size);
    ref.lse.set(fwd.lse, j * T);
    ref.dq.set(bwd.dq, j * size);
    ref.dk.set(bwd.dk, j * size);
    ref.dv.set(bwd.dv, j * size);
    for (let i = 0; i < size; i++) ref.elements[j * size + i] = head * size + i;
    for (let i = 0; i < T; i++) ref.rows[j * T + i] = head * T + i;
  }
  return ref;
}

/** Throws an OutputCheckError (bench/lib/check.ts) naming `what` and the worst element unless every output matches. */
export function checkAttention(what: string, got: AttentionOutputs, ref: AttentionReference): void {
  checkOutput(`${what} o`, got.o, ref.o, OUTPUT_TOLERANCE, ref.elements);
  if (got.lse) checkOutput(`${what} lse`, got.lse, ref.lse, OUTPUT_TOLERANCE, ref.rows);
  for (const name of ['dq', 'dk', 'dv'] as const) {
    const grad = got[name];
    if (grad) checkOutput(`${what} ${name}`, grad, ref[name], GRADIENT_TOLERANCE, ref.elements);
  }
}

/** [B, X, Y, D] → [B, Y, X, D]: between our head-major layout and onnxruntime-web's [B, T, H·D]. */
export function swapMiddleAxes(x: Float32Array, B: number, X: number, Y: number, D: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < X; i++) {
      for (let j = 0; j < Y; j++) {
        const from = ((b * X + i) * Y + j) * D;
        out.set(x.subarray(from, from + D), ((b * Y + j) * X + i) * D);
      }
    }
  }
  return out;
}
