import { type Floats, zerosLike } from './floats';

/**
 * Attention's two layouts. Token-major [B, T, slots, H, D] is what the matmuls read and
 * write: qkv has 3 slots (q, k, v) of C = H·D channels, a merged attention output has 1.
 * Head-major [B, H, T, D] is what the attention kernels read and write, one head at a time.
 */
export interface HeadDims {
  B: number;
  T: number;
  H: number;
  D: number;
}

/** Copies one slot of a token-major tensor into a new head-major [B, H, T, D] tensor. */
function toHeads<F extends Floats>(tokenMajor: F, slots: number, slot: number, { B, T, H, D }: HeadDims): F {
  const heads = zerosLike(tokenMajor, B * H * T * D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        for (let d = 0; d < D; d++) {
          heads[((b * H + h) * T + t) * D + d] = tokenMajor[(((b * T + t) * slots + slot) * H + h) * D + d]!;
        }
      }
    }
  }
  return heads;
}

/** Interleaves head-major tensors, one per slot, into a new token-major [B, T, slots, H, D] tensor. */
function fromHeads<F extends Floats>(perSlot: F[], { B, T, H, D }: HeadDims): F {
  const slots = perSlot.length;
  const tokenMajor = zerosLike(perSlot[0]!, B * T * slots * H * D);
  perSlot.forEach((heads, slot) => {
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let t = 0; t < T; t++) {
          for (let d = 0; d < D; d++) {
            tokenMajor[(((b * T + t) * slots + slot) * H + h) * D + d] = heads[((b * H + h) * T + t) * D + d]!;
          }
        }
      }
    }
  });
  return tokenMajor;
}

/** qkv [B, T, 3, H, D] → q, k, v, each [B, H, T, D]. */
export function splitQkvCpu<F extends Floats>(qkv: F, dims: HeadDims): { q: F; k: F; v: F } {
  return { q: toHeads(qkv, 3, 0, dims), k: toHeads(qkv, 3, 1, dims), v: toHeads(qkv, 3, 2, dims) };
}

/** The backward of splitQkvCpu: dq, dk, dv [B, H, T, D] → dqkv [B, T, 3, H, D]. */
export function joinQkvCpu<F extends Floats>(dq: F, dk: F, dv: F, dims: HeadDims): F {
  return fromHeads([dq, dk, dv], dims);
}

/** o [B, H, T, D] → y [B, T, H·D]. */
export function mergeHeadsCpu<F extends Floats>(o: F, dims: HeadDims): F {
  return fromHeads([o], dims);
}

/** The backward of mergeHeadsCpu: dy [B, T, H·D] → do [B, H, T, D]. */
export function splitHeadsCpu<F extends Floats>(dy: F, dims: HeadDims): F {
  return toHeads(dy, 1, 0, dims);
}
