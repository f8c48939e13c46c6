// FLOPs of one GPT training step (forward and backward) as each implementation does the work:
// matrix products only, 2 FLOPs per multiply-add (LayerNorm, GELU, softmax, the loss and the
// optimiser are left out of both counts).
import type { AttentionTiles } from '../../src/gpu';
import type { ParamLayout } from '../../src/model';

/**
 * The linear layers and the tied head, the same in both implementations: forward Y = X·W,
 * backward dX = dY·Wᵀ and dW = Xᵀ·dY, so 6 FLOPs per weight per token.
 */
export function linearFlops(layout: ParamLayout, tokens: number): number {
  const P = layout.params;
  let weights = P.wte.size;
  for (const l of P.layers) weights += l.attn.qkv.w.size + l.attn.proj.w.size + l.mlp.fc.w.size + l.mlp.proj.w.size;
  return 6 * weights * tokens;
}

/**
 * Attention that computes all T×T scores and masks them (the tfjs model): forward S = Q·Kᵀ and
 * O = P·V, backward dV = Pᵀ·dO, dP = dO·Vᵀ, dQ = dS·K and dK = dSᵀ·Q: 12·D FLOPs per score.
 */
export function fullAttentionFlops(layout: ParamLayout, B: number, T: number): number {
  const { layers, width } = layout.config; // width = heads · D
  return 12 * layers * B * T * T * width;
}

/** A tile's shape, all that its score count depends on. */
type TileShape = Pick<AttentionTiles, 'BR' | 'BC'>;

/** The tiles our three attention kernels run with (attentionTiles on the adapter). */
export interface FlashTiles {
  forward: TileShape;
  dq: TileShape;
  dkdv: TileShape;
}

/**
 * Our flash attention (src/gpu/attention.ts): each kernel computes whole BR×BC score tiles up to
 * the diagonal and skips the tiles above it; the backward kernels recompute S and dP. Per computed
 * score: forward 4·D (S, P·V), dQ kernel 6·D (S, dP, dQ), dK/dV kernel 8·D (S, dP, dV, dK), with D
 * padded to a multiple of 4 as the kernels hold it.
 */
export function flashAttentionFlops(layout: ParamLayout, B: number, T: number, tiles: FlashTiles): number {
  const { layers, heads: H, width: C } = layout.config;
  const D = Math.ceil(C / H / 4) * 4;
  const perHead =
    4 * D * queryTileScores(T, tiles.forward) +
    6 * D * queryTileScores(T, tiles.dq) +
    8 * D * keyTileScores(T, tiles.dkdv);
  return layers * B * H * perHead;
}

/** Scores computed by a kernel that walks query tiles, each over the key tiles that start before its last query. */
export function queryTileScores(T: number, { BR, BC }: TileShape): number {
  let scores = 0;
  for (let r0 = 0; r0 < T; r0 += BR) scores += BR * BC * Math.ceil(Math.min(r0 + BR, T) / BC);
  return scores;
}

/** Scores computed by a kernel that walks key tiles, each over the query tiles from the one holding its first key. */
export function keyTileScores(T: number, { BR, BC }: TileShape): number {
  let scores = 0;
  for (let c0 = 0; c0 < T; c0 += BC) scores += BR * BC * Math.ceil((T - Math.floor(c0 / BR) * BR) / BR);
  return scores;
}
