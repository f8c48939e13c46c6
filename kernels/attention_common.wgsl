// Shared by the three tiled attention kernels, which `#include` it: the tiles they keep in
// workgroup memory and the 4×4 blocks of the score tile computed from them.
// Consts: HEAD_DIM, D4 = ceil(HEAD_DIM / 4), BR and BC (query and key rows per tile, multiples
// of 4), LANES, STRIDED. A kernel's threads form groups of LANES lanes (`group = tid / LANES`, `lane = tid %
// LANES`): a group owns one block of 4 rows of the tile the kernel keeps, and its lanes share the
// blocks of the tiles it walks.
//
// Rows go to 4×4 blocks in one of two layouts, by the const STRIDED. Strided (the GPU shape):
// block j of the query tile holds rows j, j + Q_BLOCKS, j + 2·Q_BLOCKS, j + 3·Q_BLOCKS, and
// likewise for keys, so the lanes of a group, which take consecutive key blocks (forward, dQ) or
// query blocks (dK/dV), read consecutive rows of a tile: no bank conflicts. In fours (the CPU
// shape, where banks do not matter and the extra index arithmetic costs): rows 4j … 4j + 3.

const Q_BLOCKS = BR / 4u; // 4×4 blocks per tile column
const K_BLOCKS = BC / 4u;
const Q_ROW_STEP = select(1u, Q_BLOCKS, STRIDED);   // between the rows of a block
const Q_BLOCK_STEP = select(4u, 1u, STRIDED);       // between the first rows of blocks
const K_ROW_STEP = select(1u, K_BLOCKS, STRIDED);
const K_BLOCK_STEP = select(4u, 1u, STRIDED);

// Head vectors as vec4s, zero-padded to D4, BR query rows (Q, dO) and BC key rows (K, V), row r
// at [r * ROW4, r * ROW4 + D4). With STRIDED the stride ROW4 is odd, so consecutive rows read at the
// same d4 fall in different banks (a stride of D4 = 16 vec4s put them all in one: 8-way conflicts).
// A kernel that never uses an array (the forward's dOs) gets no memory for it.
const ROW4 = select(D4, D4 | 1u, STRIDED);
var<workgroup> Qs: array<vec4<f32>, BR * ROW4>;
var<workgroup> dOs: array<vec4<f32>, BR * ROW4>;
var<workgroup> Ks: array<vec4<f32>, BC * ROW4>;
var<workgroup> Vs: array<vec4<f32>, BC * ROW4>;

// Row strides of score tiles in workgroup memory: QK_STRIDE for query rows of keys (forward, dQ),
// KQ_STRIDE for key rows of queries (dK/dV). With STRIDED one past the columns: the groups of a warp
// read rows g, g + 1, … at the same column in their inner loops, which then fall in different banks.
const QK_STRIDE = BC + u32(STRIDED);
const KQ_STRIDE = BR + u32(STRIDED);

// Four consecutive head-dimension values of a row, zero past HEAD_DIM and for rows past T.
fn row4(x0: f32, x1: f32, x2: f32, x3: f32, d: u32, valid: bool) -> vec4<f32> {
  let inside = (vec4<u32>(d, d + 1u, d + 2u, d + 3u) < vec4<u32>(HEAD_DIM)) & vec4<bool>(valid);
  return select(vec4<f32>(0.0), vec4<f32>(x0, x1, x2, x3), inside);
}

// Tile rows of query block qb (or key block kb), as a vec4.
fn q_block_rows(qb: u32) -> vec4<u32> {
  return vec4<u32>(qb * Q_BLOCK_STEP) + vec4<u32>(0u, 1u, 2u, 3u) * Q_ROW_STEP;
}
fn k_block_rows(kb: u32) -> vec4<u32> {
  return vec4<u32>(kb * K_BLOCK_STEP) + vec4<u32>(0u, 1u, 2u, 3u) * K_ROW_STEP;
}

// Four rows of a tile, starting at `at`, at vec4 d4 of the head dimension, as the columns of a matrix.
fn q_rows(at: vec4<u32>, d4: u32) -> mat4x4<f32> {
  return mat4x4<f32>(Qs[at.x + d4], Qs[at.y + d4], Qs[at.z + d4], Qs[at.w + d4]);
}
fn do_rows(at: vec4<u32>, d4: u32) -> mat4x4<f32> {
  return mat4x4<f32>(dOs[at.x + d4], dOs[at.y + d4], dOs[at.z + d4], dOs[at.w + d4]);
}
fn k_rows(at: vec4<u32>, d4: u32) -> mat4x4<f32> {
  return mat4x4<f32>(Ks[at.x + d4], Ks[at.y + d4], Ks[at.z + d4], Ks[at.w + d4]);
}
fn v_rows(at: vec4<u32>, d4: u32) -> mat4x4<f32> {
  return mat4x4<f32>(Vs[at.x + d4], Vs[at.y + d4], Vs[at.z + d4], Vs[at.w + d4]);
}

// The 4×4 block of S = Q·Kᵀ for query block qb and key block kb: column i is query row i's scores
// against the block's four keys (column i of transpose(K)·Q is K·qᵢ). Matrix values, not arrays,
// so that CPU adapters keep the block in registers (they keep arrays in memory); row starts are
// computed once, outside the loop, for CPU adapters' compilers that would not hoist them.
fn score_block(qb: u32, kb: u32) -> mat4x4<f32> {
  let q = q_block_rows(qb) * ROW4; // where the rows start in Qs (and dOs)
  let k = k_block_rows(kb) * ROW4; // in Ks (and Vs)
  var s = mat4x4<f32>();
  for (var d4 = 0u; d4 < D4; d4++) { s += transpose(k_rows(k, d4)) * q_rows(q, d4); }
  return s;
}

// The same block of S and of dP = dO·Vᵀ, in one pass over the head dimension, for the backward kernels.
struct ScoreBlocks {
  s: mat4x4<f32>,
  dp: mat4x4<f32>,
}
fn score_and_dp_blocks(qb: u32, kb: u32) -> ScoreBlocks {
  let q = q_block_rows(qb) * ROW4; // where the rows start in Qs (and dOs)
  let k = k_block_rows(kb) * ROW4; // in Ks (and Vs)
  var s = mat4x4<f32>();
  var dp = mat4x4<f32>();
  for (var d4 = 0u; d4 < D4; d4++) {
    s += transpose(k_rows(k, d4)) * q_rows(q, d4);
    dp += transpose(v_rows(k, d4)) * do_rows(q, d4);
  }
  return ScoreBlocks(s, dp);
}

// The tiles [first, end) of `count` that split `split` of `splits` walks: equal shares, in order.
fn split_range(count: u32, split: u32, splits: u32) -> vec2<u32> {
  let share = (count + splits - 1u) / splits;
  return vec2<u32>(min(split * share, count), min((split + 1u) * share, count));
}
