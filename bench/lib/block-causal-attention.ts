// The block-causal unfused attention baseline: the causal skipping our fused kernels do, without
// their fusion. Key blocks entirely above the diagonal are never computed, at the block size of our
// fused forward kernel (BR query rows × BC keys); but as in the full unfused baseline, the scores
// are materialised in a T×T buffer (only the computed blocks are written or read), the softmax is a
// kernel of its own, and P·V another; the backward likewise.
//
// Its kernels are our matmul and softmax kernels (kernels/*.wgsl) with the causal block bounds
// patched in, and its matmul tiles are those the full unfused baseline runs with the same block
// (blockTiles), so that against it only the skipping differs:
//   scores (S = Q·Kᵀ, dP = dO·Vᵀ): output tiles BR × BC; a tile whose first key is past its last
//     query returns at once (the fused kernels' `c0 < min(r0 + BR, T)`).
//   over keys (O = P·V, dQ = dS·K): row tiles of BR queries reduce over the keys of their computed
//     blocks only.
//   over queries (dV = Pᵀ·dO, dK = dSᵀ·Q): row tiles of BC keys reduce over the query blocks that
//     computed them only (the fused dK/dV kernel's `r0 = (c0 / BR) · BR`).
//   softmax forward and backward: each row touches its computed blocks only.

import matmulSource from '../../kernels/matmul.wgsl?raw';
import softmaxBackwardSource from '../../kernels/softmax_backward.wgsl?raw';
import softmaxForwardSource from '../../kernels/softmax_forward.wgsl?raw';
import { type Batch, type Gpu, grid1d, type MatmulArgs, tiledMatmulConsts, tilesFit, uniforms } from '../../src/gpu';
import {
  blockTiles,
  type CausalBlock,
  type ProductKind,
  type Shape,
  type UnfusedAttentionBuffers,
} from './unfused-attention';

/** The matmul kernel's uniforms, as src/gpu/matmul.ts binds them. */
const MATMUL_PARAMS = uniforms({ M: 'u32', N: 'u32', K: 'u32', strideA: 'u32', strideB: 'u32', strideC: 'u32' });
/** The softmax kernels' uniforms, as src/gpu/softmax.ts binds them. */
const SOFTMAX_PARAMS = uniforms({ rows: 'u32', cols: 'u32', scale: 'f32' });
const SOFTMAX_THREADS = 64;

/** An anchor in a kernel's source, its replacement, and how many times the anchor occurs (default 1). */
type Edit = [anchor: string, replacement: string, count?: number];

/** The source with each edit applied; an anchor found a different number of times means the kernel changed. */
function patched(file: string, source: string, edits: Edit[]): string {
  return edits.reduce((text, [anchor, replacement, count = 1]) => {
    const found = text.split(anchor).length - 1;
    if (found !== count) throw new Error(`${file}: expected "${anchor}" ${count} times, found ${found}`);
    return text.replaceAll(anchor, replacement);
  }, source);
}

// Consts: QUERY_BLOCK (BR), KEY_BLOCK (BC), and which bound a product keeps.
const MATMUL_BOUNDS = `
// Scores [queries, keys]: a tile whose first key is past its last query is never computed.
fn above_diagonal(row0: u32, col0: u32) -> bool {
  return SKIP_ABOVE_DIAGONAL && col0 >= min(row0 + TILE_M, p.M);
}
// Rows are keys (TILE_M = KEY_BLOCK): the first query block that computed this key block.
fn reduction_begin(row0: u32) -> u32 {
  if (QUERIES_FROM_DIAGONAL) { return row0 / QUERY_BLOCK * QUERY_BLOCK; }
  return 0u;
}
// Rows are queries (TILE_M = QUERY_BLOCK): the end of the last key block computed for them.
fn reduction_end(row0: u32) -> u32 {
  if (KEYS_TO_DIAGONAL) { return min((row0 + TILE_M + KEY_BLOCK - 1u) / KEY_BLOCK * KEY_BLOCK, p.K); }
  return p.K;
}
`;

const blockCausalMatmulSource =
  patched('matmul.wgsl', matmulSource, [
    ['let baseB = wid.z * p.strideB;', 'let baseB = wid.z * p.strideB;\n  if (above_diagonal(row0, col0)) { return; }'],
    [
      'for (var kt = 0u; kt < p.K; kt += TILE_K) {',
      'let kEnd = reduction_end(row0);\n  for (var kt = reduction_begin(row0); kt < kEnd; kt += TILE_K) {',
    ],
  ]) + MATMUL_BOUNDS;

// Score rows are [head, query]; cols = T keys.
const SOFTMAX_BOUNDS = `
// The end of the key blocks computed for this row's query block.
fn computed_end(row: u32) -> u32 {
  let queryEnd = (row % p.cols / QUERY_BLOCK + 1u) * QUERY_BLOCK;
  return min((queryEnd + KEY_BLOCK - 1u) / KEY_BLOCK * KEY_BLOCK, p.cols);
}
`;
const ROW_START = 'let base = row * p.cols;';
/** Each row's loops stop at its computed blocks' end (found once per row) instead of at T. */
const softmaxEdits = (loops: number): Edit[] => [
  [ROW_START, `${ROW_START}\n  let rowEnd = computed_end(row);`],
  ['c < p.cols', 'c < rowEnd', loops],
];
// Forward: max and sum already stop at the diagonal (CAUSAL); the write of P now stops at the block end.
const blockCausalSoftmaxForwardSource =
  patched('softmax_forward.wgsl', softmaxForwardSource, softmaxEdits(1)) + SOFTMAX_BOUNDS;
const blockCausalSoftmaxBackwardSource =
  patched('softmax_backward.wgsl', softmaxBackwardSource, softmaxEdits(2)) + SOFTMAX_BOUNDS;

/**
 * Records one product of each head's matrices (contiguous [T, ·] each) with the causal bound of its
 * kind, in the tiles the full unfused baseline uses for it (blockTiles).
 */
async function product(
  gpu: Gpu,
  batch: Batch,
  block: CausalBlock,
  heads: number,
  kind: ProductKind,
  p: Omit<MatmulArgs, 'batch' | 'tiles'> & { a: GPUBuffer; c: GPUBuffer },
): Promise<void> {
  const { M, N, K } = p;
  const tiles = blockTiles(block, kind, N);
  if (!tilesFit(gpu, tiles)) throw new Error(`block-causal matmul: tiles ${JSON.stringify(tiles)} do not fit`);
  const pipeline = await gpu.pipelines.get({
    name: 'matmul_block_causal',
    source: blockCausalMatmulSource,
    consts: {
      ...tiledMatmulConsts({ M, N, K, transA: p.transA, transB: p.transB }, tiles),
      QUERY_BLOCK: block.BR,
      KEY_BLOCK: block.BC,
      SKIP_ABOVE_DIAGONAL: kind === 'scores',
      KEYS_TO_DIAGONAL: kind === 'over-keys',
      QUERIES_FROM_DIAGONAL: kind === 'over-queries',
    },
    uniforms: MATMUL_PARAMS,
  });
  batch.dispatch({
    kernel: 'matmul_block_causal',
    pipeline,
    // The bias binding is never read (HAS_BIAS is false): A fills it, both read-only.
    buffers: [p.a, p.b, p.a, p.c],
    params: MATMUL_PARAMS.pack({ M, N, K, strideA: M * K, strideB: K * N, strideC: M * N }),
    workgroups: [Math.ceil(N / tiles.TILE_N), Math.ceil(M / tiles.TILE_M), heads],
  });
}

async function softmax(
  gpu: Gpu,
  batch: Batch,
  block: CausalBlock,
  s: Shape,
  kernel: 'forward' | 'backward',
  buffers: GPUBuffer[],
) {
  const name = `softmax_${kernel}_block_causal`;
  const pipeline = await gpu.pipelines.get({
    name,
    source: kernel === 'forward' ? blockCausalSoftmaxForwardSource : blockCausalSoftmaxBackwardSource,
    consts: { WG: SOFTMAX_THREADS, CAUSAL: true, QUERY_BLOCK: block.BR, KEY_BLOCK: block.BC },
    uniforms: SOFTMAX_PARAMS,
  });
  const rows = s.B * s.H * s.T;
  batch.dispatch({
    kernel: name,
    pipeline,
    buffers,
    params: SOFTMAX_PARAMS.pack({ rows, cols: s.T, scale: 1 / Math.sqrt(s.D) }),
    workgroups: grid1d(rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

/** S = Q·Kᵀ; P = softmax(S/√D, causal); O = P·V, each over the computed blocks only. `probs` is [B·H, T, T]. */
export async function blockCausalForward(
  gpu: Gpu,
  batch: Batch,
  s: Shape,
  block: CausalBlock,
  b: UnfusedAttentionBuffers,
): Promise<void> {
  const { T, D } = s;
  const heads = s.B * s.H;
  await product(gpu, batch, block, heads, 'scores', { a: b.q, b: b.k, c: b.probs, M: T, N: T, K: D, transB: true });
  await softmax(gpu, batch, block, s, 'forward', [b.probs]);
  await product(gpu, batch, block, heads, 'over-keys', { a: b.probs, b: b.v, c: b.o, M: T, N: D, K: T });
}

/** dV = Pᵀ·dO; dP = dO·Vᵀ; dS = P ∘ (dP − rowsum(P ∘ dP)) / √D; dQ = dS·K; dK = dSᵀ·Q, over the computed blocks only. */
export async function blockCausalBackward(
  gpu: Gpu,
  batch: Batch,
  s: Shape,
  block: CausalBlock,
  b: UnfusedAttentionBuffers & { dout: GPUBuffer; dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer; dscores: GPUBuffer },
): Promise<void> {
  const { T, D } = s;
  const run = (kind: ProductKind, p: Parameters<typeof product>[5]) => product(gpu, batch, block, s.B * s.H, kind, p);
  await run('over-queries', { a: b.probs, b: b.dout, c: b.dv, M: T, N: D, K: T, transA: true });
  await run('scores', { a: b.dout, b: b.v, c: b.dscores, M: T, N: T, K: D, transB: true });
  await softmax(gpu, batch, block, s, 'backward', [b.probs, b.dscores]);
  await run('over-keys', { a: b.dscores, b: b.k, c: b.dq, M: T, N: D, K: T });
  await run('over-queries', { a: b.dscores, b: b.q, c: b.dk, M: T, N: D, K: T, transA: true });
}
