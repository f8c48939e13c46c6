// The unfused attention baseline: our own matmul and softmax kernels, with the T×T
// score and probability matrices materialised per head, as a framework without a
// fused kernel would run it. Every block of the score matrix is computed.
//
// Given a causal block (the benchmark passes our fused forward kernel's BR×BC), its matmul
// tiles are the ones the block-causal baseline (block-causal-attention.ts) must use, so that
// between the two only the skipping of the blocks above the diagonal differs.
import {
  type AttentionTiles,
  type Batch,
  type Gpu,
  type MatmulArgs,
  type MatmulTiles,
  matmul,
  softmaxBackward,
  softmaxForward,
} from '../../src/gpu';

/** A causal block: BR query rows × BC keys, as our fused forward kernel tiles the score matrix (attentionTiles). */
export type CausalBlock = Pick<AttentionTiles, 'BR' | 'BC'>;

/**
 * The three kinds of product of attention: the T×T scores (S = Q·Kᵀ, dP = dO·Vᵀ), reductions over
 * keys (O = P·V, dQ = dS·K) and reductions over queries (dV = Pᵀ·dO, dK = dSᵀ·Q).
 */
export type ProductKind = 'scores' | 'over-keys' | 'over-queries';

/** Depth step of the matmul tiles; smaller where a causal block is shallower. */
const MAX_TILE_K = 16;
/** Output rows per thread; smaller where a causal block is shorter. */
const MAX_TM = 8;
/** Output columns per tile of the D-wide products. */
const MAX_TILE_N = 64;

/**
 * The matmul tile of one product (N output columns) aligned to the causal block: its rows are
 * one block of queries (BR) or of keys (BC), its columns one block of keys (BC) or the head, and
 * its depth divides the blocks it reduces over (blocks are powers of two).
 */
export function blockTiles(block: CausalBlock, kind: ProductKind, N: number): MatmulTiles {
  const rows = kind === 'over-queries' ? block.BC : block.BR;
  const cols = kind === 'scores' ? block.BC : Math.min(MAX_TILE_N, Math.ceil(N / 8) * 8);
  const depth = kind === 'over-keys' ? block.BC : kind === 'over-queries' ? block.BR : MAX_TILE_K;
  return { TILE_M: rows, TILE_N: cols, TILE_K: Math.min(MAX_TILE_K, depth), TM: Math.min(MAX_TM, rows) };
}

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

/** A product of each head's matrices, with tiles aligned to `block` when given, else the matmul's own choice. */
function headProducts(gpu: Gpu, batch: Batch, heads: number, block: CausalBlock | undefined) {
  return (kind: ProductKind, args: Omit<MatmulArgs, 'batch' | 'tiles'>) =>
    matmul(gpu, batch, { ...args, batch: heads, tiles: block && blockTiles(block, kind, args.N) });
}

/** S = Q·Kᵀ; P = softmax(S/√D, causal); O = P·V. Matmul tiles aligned to `block` when given. */
export async function unfusedForward(
  gpu: Gpu,
  batch: Batch,
  s: Shape,
  b: UnfusedAttentionBuffers,
  block?: CausalBlock,
): Promise<void> {
  const heads = s.B * s.H;
  const { T, D } = s;
  const product = headProducts(gpu, batch, heads, block);
  await product('scores', { a: b.q, b: b.k, c: b.probs, M: T, N: T, K: D, transB: true });
  await softmaxForward(gpu, batch, { x: b.probs, rows: heads * T, cols: T, scale: 1 / Math.sqrt(D), causal: true });
  await product('over-keys', { a: b.probs, b: b.v, c: b.o, M: T, N: D, K: T });
}

/**
 * dV = Pᵀ·dO; dP = dO·Vᵀ; dS = P ∘ (dP − rowsum(P ∘ dP)) / √D; dQ = dS·K; dK = dSᵀ·Q. `dscores` is
 * [B·H, T, T]. Matmul tiles aligned to `block` when given.
 */
export async function unfusedBackward(
  gpu: Gpu,
  batch: Batch,
  s: Shape,
  b: UnfusedAttentionBuffers & { dout: GPUBuffer; dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer; dscores: GPUBuffer },
  block?: CausalBlock,
): Promise<void> {
  const heads = s.B * s.H;
  const { T, D } = s;
  const product = headProducts(gpu, batch, heads, block);
  await product('over-queries', { a: b.probs, b: b.dout, c: b.dv, M: T, N: D, K: T, transA: true });
  await product('scores', { a: b.dout, b: b.v, c: b.dscores, M: T, N: T, K: D, transB: true });
  const scale = 1 / Math.sqrt(D);
  await softmaxBackward(gpu, batch, { probs: b.probs, grad: b.dscores, rows: heads * T, cols: T, scale });
  await product('over-keys', { a: b.dscores, b: b.k, c: b.dq, M: T, N: D, K: T });
  await product('over-queries', { a: b.dscores, b: b.q, c: b.dk, M: T, N: D, K: T, transA: true });
}
