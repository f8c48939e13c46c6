// Shared by the three attention kernels, which `#include` it: the tiles they keep in workgroup
// memory and the 4×4 blocks of the score tile computed from them.
// Consts: HEAD_DIM, D4 = ceil(HEAD_DIM / 4), BR and BC (query and key rows per tile, multiples
// of 4), WG (threads).

// Head vectors as vec4s, zero-padded to D4: BR query rows (Q, dO) and BC key rows (K, V), row r
// at [r * D4, (r + 1) * D4). A kernel that never uses one (the forward's dOs) gets no memory for it.
var<workgroup> Qs: array<vec4<f32>, BR * D4>;
var<workgroup> dOs: array<vec4<f32>, BR * D4>;
var<workgroup> Ks: array<vec4<f32>, BC * D4>;
var<workgroup> Vs: array<vec4<f32>, BC * D4>;

// The BR × BC score tile in 4×4 blocks, handed out to the threads in turn.
const S_BLOCKS = (BR / 4u) * (BC / 4u);
const S_PER_THREAD = (S_BLOCKS + WG - 1u) / WG;

// Four consecutive head-dimension values of a row, zero past HEAD_DIM and for rows past T.
fn row4(x0: f32, x1: f32, x2: f32, x3: f32, d: u32, valid: bool) -> vec4<f32> {
  let inside = (vec4<u32>(d, d + 1u, d + 2u, d + 3u) < vec4<u32>(HEAD_DIM)) & vec4<bool>(valid);
  return select(vec4<f32>(0.0), vec4<f32>(x0, x1, x2, x3), inside);
}

// Rows r … r + 3 of a tile at vec4 d4 of the head dimension, as the columns of a matrix.
fn q_rows(r: u32, d4: u32) -> mat4x4<f32> {
  return mat4x4<f32>(Qs[r * D4 + d4], Qs[(r + 1u) * D4 + d4], Qs[(r + 2u) * D4 + d4], Qs[(r + 3u) * D4 + d4]);
}
fn do_rows(r: u32, d4: u32) -> mat4x4<f32> {
  return mat4x4<f32>(dOs[r * D4 + d4], dOs[(r + 1u) * D4 + d4], dOs[(r + 2u) * D4 + d4], dOs[(r + 3u) * D4 + d4]);
}
fn k_rows(c: u32, d4: u32) -> mat4x4<f32> {
  return mat4x4<f32>(Ks[c * D4 + d4], Ks[(c + 1u) * D4 + d4], Ks[(c + 2u) * D4 + d4], Ks[(c + 3u) * D4 + d4]);
}
fn v_rows(c: u32, d4: u32) -> mat4x4<f32> {
  return mat4x4<f32>(Vs[c * D4 + d4], Vs[(c + 1u) * D4 + d4], Vs[(c + 2u) * D4 + d4], Vs[(c + 3u) * D4 + d4]);
}

// The 4×4 block of S = Q·Kᵀ for query rows rb … rb + 3 and key rows cb … cb + 3: column i is
// query rb + i's scores against the four keys (column i of transpose(K)·Q is K·qᵢ). Matrix values,
// not arrays, so that CPU adapters keep the block in registers (they keep arrays in memory).
fn score_block(rb: u32, cb: u32) -> mat4x4<f32> {
  var s = mat4x4<f32>();
  for (var d4 = 0u; d4 < D4; d4++) { s += transpose(k_rows(cb, d4)) * q_rows(rb, d4); }
  return s;
}

// The same block of S and of dP = dO·Vᵀ, in one pass over the head dimension, for the backward kernels.
struct ScoreBlocks {
  s: mat4x4<f32>,
  dp: mat4x4<f32>,
}
fn score_and_dp_blocks(rb: u32, cb: u32) -> ScoreBlocks {
  var s = mat4x4<f32>();
  var dp = mat4x4<f32>();
  for (var d4 = 0u; d4 < D4; d4++) {
    s += transpose(k_rows(cb, d4)) * q_rows(rb, d4);
    dp += transpose(v_rows(cb, d4)) * do_rows(rb, d4);
  }
  return ScoreBlocks(s, dp);
}
