/**
 * Causal multi-head self-attention, the plain way: the full T×T score matrix per
 * head. Layout [B, H, T, D] for q, k, v, o; lse is [B, H, T] (log-sum-exp of each
 * row's scaled scores, what the GPU forward saves for its backward).
 *
 *   S = Q·Kᵀ / √D,  S[i, j] = −∞ for j > i,  P = softmax(S),  O = P·V
 */
export interface AttentionShape {
  B: number;
  H: number;
  T: number;
  D: number;
}

export function attentionForwardCpu(s: AttentionShape, q: Float32Array, k: Float32Array, v: Float32Array) {
  const { B, H, T, D } = s;
  const scale = 1 / Math.sqrt(D);
  const o = new Float32Array(B * H * T * D);
  const lse = new Float32Array(B * H * T);
  const scores = new Float64Array(T);
  for (let bh = 0; bh < B * H; bh++) {
    const base = bh * T * D;
    for (let i = 0; i < T; i++) {
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[base + i * D + d]! * k[base + j * D + d]!;
        scores[j] = dot * scale;
        max = Math.max(max, scores[j]!);
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) sum += Math.exp(scores[j]! - max);
      lse[bh * T + i] = max + Math.log(sum);
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j <= i; j++) acc += (Math.exp(scores[j]! - max) / sum) * v[base + j * D + d]!;
        o[base + i * D + d] = acc;
      }
    }
  }
  return { o, lse };
}

/**
 * Gradients of the forward above, given dO:
 *   dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ∘ (dP − rowsum(dO ∘ O)),  dQ = dS·K / √D,  dK = dSᵀ·Q / √D
 */
export function attentionBackwardCpu(
  s: AttentionShape,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  dout: Float32Array,
) {
  const { B, H, T, D } = s;
  const scale = 1 / Math.sqrt(D);
  const { o, lse } = attentionForwardCpu(s, q, k, v);
  const dq = new Float32Array(q.length);
  const dk = new Float32Array(k.length);
  const dv = new Float32Array(v.length);
  for (let bh = 0; bh < B * H; bh++) {
    const base = bh * T * D;
    for (let i = 0; i < T; i++) {
      let rowDot = 0; // rowsum(dO ∘ O) = Σ_j P[i,j]·dP[i,j]
      for (let d = 0; d < D; d++) rowDot += dout[base + i * D + d]! * o[base + i * D + d]!;
      for (let j = 0; j <= i; j++) {
        let score = 0;
        let dp = 0;
        for (let d = 0; d < D; d++) {
          score += q[base + i * D + d]! * k[base + j * D + d]!;
          dp += dout[base + i * D + d]! * v[base + j * D + d]!;
        }
        const p = Math.exp(score * scale - lse[bh * T + i]!);
        const ds = p * (dp - rowDot);
        for (let d = 0; d < D; d++) {
          dv[base + j * D + d]! += p * dout[base + i * D + d]!;
          dq[base + i * D + d]! += ds * k[base + j * D + d]! * scale;
          dk[base + j * D + d]! += ds * q[base + i * D + d]! * scale;
        }
      }
    }
  }
  return { dq, dk, dv };
}
