// Causal flash attention, forward. One workgroup computes BR query rows of one (batch, head): it
// walks the key tiles of BC rows up to the diagonal, keeps them in workgroup memory, and folds
// each tile into the output with an online softmax (running row max and sum), so the T×T score
// matrix never exists. Saves lse = max + log(sum) per row for the backward pass.
//
// Threads (attention_common.wgsl): group g owns query block g, 4 rows, for the whole run; its
// LANES lanes share the block's work on each key tile, in three steps between barriers:
//   1. scores: lane l computes key blocks l, l + LANES, … (4×4 blocks of S = Q·Kᵀ), stores them
//      and their row maxima;
//   2. softmax, in parallel: every lane reads its group's row maxima (all get the same, so each
//      keeps the running max in registers), turns its own scores into probabilities and adds them
//      to its own part of the row sums, which are added up across the lanes after the last tile;
//   3. output: lane l keeps vec4s l, l + LANES, … of its group's 4 output rows, O = rescale·O + P·V.
//
// With SPLITS > 1 the key tiles of each query tile are split into SPLITS shares, one workgroup
// each (grid z): it writes its partial o (normalised by its own sum) and lse to slab `split` of
// o and lse, and attention_combine.wgsl merges the slabs. A row that sees no key in its share gets
// o = 0 and lse = MASKED, a weight of 0 there.
//
// Layout: q, k, v [B·H, T, HEAD_DIM]; o [SPLITS, B·H, T, HEAD_DIM]; lse [SPLITS, B·H, T].
// Grid: (ceil(T / BR), B·H, SPLITS). Consts: HEAD_DIM, D4 = ceil(HEAD_DIM / 4), BR and BC
// (multiples of 4), LANES (≤ BC / 4), STRIDED, SPLITS.
// Params from the launcher (src/gpu/attention.ts): T, scale = 1/√HEAD_DIM.

#include "attention_common.wgsl"

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

// A finite "minus infinity": exp(MASKED − m) is 0 for any real max m, and MASKED − MASKED is not NaN.
const GROUPS = Q_BLOCKS; // a group per query block
const MASKED = -1e30;
const KEY_BLOCKS_PER_LANE = (K_BLOCKS + LANES - 1u) / LANES;
const OUT_PER_LANE = (D4 + LANES - 1u) / LANES;

// Qs (this tile's queries, pre-scaled by 1/√D), Ks and Vs come from attention_common.wgsl.
var<workgroup> Ps: array<f32, BR * QK_STRIDE>;    // scores, then probabilities, of the current tile
// Per group and lane, a vec4 over the group's 4 rows: the maxima of the lane's scores on each tile;
// and the lane's part of the row sums so far, stored on each tile and read once after the last
// (its store, in step 2, is ordered before those reads by the barrier before step 3).
var<workgroup> laneMax: array<vec4<f32>, GROUPS * LANES>;
var<workgroup> laneSums: array<vec4<f32>, GROUPS * LANES>;

// One row of a 4×4 score block into Ps, MASKED where the key is after the query; returns the row's max.
// (Rows are handled by calls with constant swizzles, not a loop over them: CPU adapters keep
// dynamically indexed vectors in memory.)
fn store_scores(row: u32, query: u32, kb: u32, keys: vec4<u32>, s: vec4<f32>) -> f32 {
  let masked = select(vec4<f32>(MASKED), s, keys <= vec4<u32>(query));
  let at = row * QK_STRIDE + kb * K_BLOCK_STEP;
  Ps[at] = masked.x;
  Ps[at + K_ROW_STEP] = masked.y;
  Ps[at + 2u * K_ROW_STEP] = masked.z;
  Ps[at + 3u * K_ROW_STEP] = masked.w;
  return max(max(masked.x, masked.y), max(masked.z, masked.w));
}

// The same row's probabilities exp(s − rowMax) in place of its scores; returns their sum. Masked
// scores give exp(MASKED − rowMax) = 0, except in a row whose keys are all masked so far (rowMax =
// MASKED), which only a split's share can start with: with splits they are zeroed by position.
fn store_probs(row: u32, query: u32, kb: u32, keys: vec4<u32>, rowMax: f32) -> f32 {
  let at = row * QK_STRIDE + kb * K_BLOCK_STEP;
  let s = vec4<f32>(Ps[at], Ps[at + K_ROW_STEP], Ps[at + 2u * K_ROW_STEP], Ps[at + 3u * K_ROW_STEP]);
  var prob = exp(s - rowMax);
  if (SPLITS > 1u) { prob = select(vec4<f32>(0.0), prob, keys <= vec4<u32>(query)); }
  Ps[at] = prob.x;
  Ps[at + K_ROW_STEP] = prob.y;
  Ps[at + 2u * K_ROW_STEP] = prob.z;
  Ps[at + 3u * K_ROW_STEP] = prob.w;
  return (prob.x + prob.y) + (prob.z + prob.w);
}

@compute @workgroup_size(GROUPS * LANES)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) grid: vec3<u32>) {
  let T = p.T;
  let group = tid / LANES;
  let lane = tid % LANES;
  let r0 = wid.x * BR;
  let base = wid.y * T * HEAD_DIM;
  let rows = q_block_rows(group);          // this group's rows in the tile
  let queries = vec4<u32>(r0) + rows;      // and in the sequence

  for (var e = tid; e < BR * D4; e += GROUPS * LANES) {
    let row = e / D4;
    let d = (e % D4) * 4u;
    let at = base + (r0 + row) * HEAD_DIM + d;
    Qs[row * ROW4 + e % D4] = row4(q[at], q[at + 1u], q[at + 2u], q[at + 3u], d, r0 + row < T) * p.scale;
  }
  var runMax = vec4<f32>(MASKED);
  var runSum = vec4<f32>(0.0);                     // this lane's part of the 4 rows' sums
  var acc: array<vec4<f32>, OUT_PER_LANE * 4u>;    // acc[j * 4 + i]: row i, vec4 lane + j·LANES

  // Causal: no query of this tile sees a key at or past min(r0 + BR, T).
  let tiles = split_range((min(r0 + BR, T) + BC - 1u) / BC, wid.z, SPLITS);
  for (var tile = tiles.x; tile < tiles.y; tile++) {
    let c0 = tile * BC;
    workgroupBarrier(); // everyone is done with the previous tile
    for (var e = tid; e < BC * D4; e += GROUPS * LANES) {
      let row = e / D4;
      let d = (e % D4) * 4u;
      let at = base + (c0 + row) * HEAD_DIM + d;
      Ks[row * ROW4 + e % D4] = row4(k[at], k[at + 1u], k[at + 2u], k[at + 3u], d, c0 + row < T);
      Vs[row * ROW4 + e % D4] = row4(v[at], v[at + 1u], v[at + 2u], v[at + 3u], d, c0 + row < T);
    }
    workgroupBarrier();

    // 1. Scores, and their row maxima.
    var tileMax = vec4<f32>(MASKED);
    for (var j = 0u; j < KEY_BLOCKS_PER_LANE; j++) {
      let kb = lane + j * LANES;
      if (kb < K_BLOCKS) {
        let s = score_block(group, kb);
        let keys = vec4<u32>(c0) + k_block_rows(kb);
        tileMax = max(tileMax, vec4<f32>(
          store_scores(rows.x, queries.x, kb, keys, s[0]),
          store_scores(rows.y, queries.y, kb, keys, s[1]),
          store_scores(rows.z, queries.z, kb, keys, s[2]),
          store_scores(rows.w, queries.w, kb, keys, s[3]),
        ));
      }
    }
    laneMax[group * LANES + lane] = tileMax;
    workgroupBarrier();

    // 2. Online softmax: the new running max, then this lane's probabilities and sums.
    for (var l = 0u; l < LANES; l++) { tileMax = max(tileMax, laneMax[group * LANES + l]); }
    let newMax = max(runMax, tileMax);
    let rescale = exp(runMax - newMax);
    runMax = newMax;
    runSum *= rescale;
    for (var j = 0u; j < KEY_BLOCKS_PER_LANE; j++) {
      let kb = lane + j * LANES;
      if (kb < K_BLOCKS) {
        let keys = vec4<u32>(c0) + k_block_rows(kb);
        runSum += vec4<f32>(
          store_probs(rows.x, queries.x, kb, keys, newMax.x),
          store_probs(rows.y, queries.y, kb, keys, newMax.y),
          store_probs(rows.z, queries.z, kb, keys, newMax.z),
          store_probs(rows.w, queries.w, kb, keys, newMax.w),
        );
      }
    }
    laneSums[group * LANES + lane] = runSum;
    workgroupBarrier();

    // 3. O = rescale·O + P·V for this lane's vec4s of the group's rows.
    for (var j = 0u; j < OUT_PER_LANE; j++) {
      let d4 = lane + j * LANES;
      if (d4 < D4) {
        var a0 = acc[j * 4u] * rescale.x;
        var a1 = acc[j * 4u + 1u] * rescale.y;
        var a2 = acc[j * 4u + 2u] * rescale.z;
        var a3 = acc[j * 4u + 3u] * rescale.w;
        for (var c = 0u; c < BC; c++) {
          let vv = Vs[c * ROW4 + d4];
          a0 += Ps[rows.x * QK_STRIDE + c] * vv;
          a1 += Ps[rows.y * QK_STRIDE + c] * vv;
          a2 += Ps[rows.z * QK_STRIDE + c] * vv;
          a3 += Ps[rows.w * QK_STRIDE + c] * vv;
        }
        acc[j * 4u] = a0;
        acc[j * 4u + 1u] = a1;
        acc[j * 4u + 2u] = a2;
        acc[j * 4u + 3u] = a3;
      }
    }
  }

  // The row sums: the lanes' parts, added in lane order (none in an empty share).
  var rowSum = vec4<f32>(0.0);
  if (tiles.y > tiles.x) {
    for (var l = 0u; l < LANES; l++) { rowSum += laneSums[group * LANES + l]; }
  }
  let seen = rowSum > vec4<f32>(0.0); // false for a row with no visible key in this share
  let inverse = select(vec4<f32>(0.0), 1.0 / rowSum, seen);
  let slab = wid.z * grid.y + wid.y;  // (split, batch·head)

  for (var j = 0u; j < OUT_PER_LANE; j++) {
    let d4 = lane + j * LANES;
    if (d4 < D4) {
      for (var i = 0u; i < 4u; i++) {
        if (queries[i] < T) {
          let value = acc[j * 4u + i] * inverse[i];
          let at = (slab * T + queries[i]) * HEAD_DIM + d4 * 4u;
          for (var x = 0u; x < 4u; x++) {
            if (d4 * 4u + x < HEAD_DIM) { o[at + x] = value[x]; }
          }
        }
      }
    }
  }
  if (lane == 0u) {
    let rowLse = select(vec4<f32>(MASKED), runMax + log(rowSum), seen);
    for (var i = 0u; i < 4u; i++) {
      if (queries[i] < T) { lse[slab * T + queries[i]] = rowLse[i]; }
    }
  }
}
