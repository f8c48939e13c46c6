// The work each causal attention implementation does, for its GFLOPS: the matmul products of the
// attention math, 2·D flops per (query, key) score entry each, over the score entries that
// implementation computes. Softmax, exp and masking are not counted.
//   forward:  S = Q·Kᵀ, O = P·V                          4·D per entry
//   backward: dV = Pᵀ·dO, dP = dO·Vᵀ, dQ = dS·K, dK = dSᵀ·Q  8·D per entry
// Our fused backward also recomputes S in both its kernels and dP in both (14·D per entry in all);
// that recomputation is not credited, so its GFLOPS are useful work per second like the others'.

/** Score entries per head that an implementation computes, by the products that read them. */
export interface ComputedScores {
  /** S = Q·Kᵀ and O = P·V. */
  forward: number;
  /** dQ = dS·K. */
  dq: number;
  /** dV = Pᵀ·dO, dP = dO·Vᵀ and dK = dSᵀ·Q. */
  dkdv: number;
}

/** Every entry of the T×T score matrix: the full unfused baseline, and onnxruntime-web (its causal mask is an additive bias). */
export function fullScores(T: number): ComputedScores {
  return { forward: T * T, dq: T * T, dkdv: T * T };
}

/**
 * Score entries per head when blocks of BR queries walk blocks of BC keys up to the diagonal: for
 * the query block at r0, the key blocks at c0 < min(r0 + BR, T) (our forward and dQ kernels; the
 * block-causal baseline). Entries past T are not counted.
 */
export function queryBlockScores(T: number, BR: number, BC: number): number {
  let entries = 0;
  for (let r0 = 0; r0 < T; r0 += BR) {
    const keys = Math.min(Math.ceil(Math.min(r0 + BR, T) / BC) * BC, T);
    entries += Math.min(BR, T - r0) * keys;
  }
  return entries;
}

/**
 * Score entries per head when blocks of BC keys walk blocks of BR queries from the diagonal down:
 * for the key block at c0, the query blocks from ⌊c0 / BR⌋·BR to T (our dK/dV kernel).
 */
export function keyBlockScores(T: number, BR: number, BC: number): number {
  let entries = 0;
  for (let c0 = 0; c0 < T; c0 += BC) entries += Math.min(BC, T - c0) * (T - Math.floor(c0 / BR) * BR);
  return entries;
}

/** Forward and backward flops of `heads` heads of size D, by the formulas above. */
export function attentionFlops(heads: number, D: number, s: ComputedScores): { forward: number; backward: number } {
  const product = 2 * D * heads; // flops per score entry of one product
  return { forward: 2 * product * s.forward, backward: product * (s.dq + 3 * s.dkdv) };
}
