// The unfused attention baseline: our own matmul and softmax kernels, with the T×T
// score and probability matrices materialised per head, as a framework without a
// fused kernel would run it.
import { type Batch, type Gpu, matmul, softmaxBackward, softmaxForward } from '../../src/gpu';

export interface UnfusedAttentionBuffers {
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  o: GPUBuffer;
  /** [B·H, T, T]: probabilities, kept for the backward. */
  probs: GPUBuffer;
}

export interface Shape {
  B: number;
  H: number;
  T: number;
  D: number;
}

/** S = Q·Kᵀ; P = softmax(S/√D, causal); O = P·V. */
export async function unfusedForward(gpu: Gpu, batch: Batch, s: Shape, b: UnfusedAttentionBuffers): Promise<void> {
  const heads = s.B * s.H;
  await matmul(gpu, batch, { a: b.q, b: b.k, c: b.probs, M: s.T, N: s.T, K: s.D, batch: heads, transB: true });
  await softmaxForward(gpu, batch, {
    x: b.probs,
    rows: heads * s.T,
    cols: s.T,
    scale: 1 / Math.sqrt(s.D),
    causal: true,
  });
  await matmul(gpu, batch, { a: b.probs, b: b.v, c: b.o, M: s.T, N: s.D, K: s.T, batch: heads });
}

/** dV = Pᵀ·dO; dP = dO·Vᵀ; dS = P ∘ (dP − rowsum(P ∘ dP)) / √D; dQ = dS·K; dK = dSᵀ·Q. `dscores` is [B·H, T, T]. */
export async function unfusedBackward(
  gpu: Gpu,
  batch: Batch,
  s: Shape,
  b: UnfusedAttentionBuffers & { dout: GPUBuffer; dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer; dscores: GPUBuffer },
): Promise<void> {
  const heads = s.B * s.H;
  const { T, D } = s;
  await matmul(gpu, batch, { a: b.probs, b: b.dout, c: b.dv, M: T, N: D, K: T, batch: heads, transA: true });
  await matmul(gpu, batch, { a: b.dout, b: b.v, c: b.dscores, M: T, N: T, K: D, batch: heads, transB: true });
  await softmaxBackward(gpu, batch, {
    probs: b.probs,
    grad: b.dscores,
    rows: heads * T,
    cols: T,
    scale: 1 / Math.sqrt(D),
  });
  await matmul(gpu, batch, { a: b.dscores, b: b.k, c: b.dq, M: T, N: D, K: T, batch: heads });
  await matmul(gpu, batch, { a: b.dscores, b: b.q, c: b.dk, M: T, N: D, K: T, batch: heads, transA: true });
}
