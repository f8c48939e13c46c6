// Flash attention backward, dK and dV. One workgroup owns BC key rows of one (batch, head) and
// walks the query tiles from the diagonal down, recomputing P:
//   P = exp(Q·Kᵀ·scale − lse),  dV = Pᵀ·dO,  dS = P ∘ (dO·Vᵀ − delta),  dK = scale · dSᵀ·Q
// Threads (attention_common.wgsl): group g owns key block g, 4 key rows, for the whole run; on
// each query tile its lanes compute query blocks l, l + LANES, … of P and dS (4×4 blocks of S and
// dP in one pass), stored transposed (a row per key), then vec4s l, l + LANES, … of the group's
// rows of dK and dV. Each workgroup writes only its own key rows: no atomics. With SPLITS > 1 the
// query tiles are split into SPLITS shares, one workgroup each (grid z), which writes its partial
// dK and dV to slab `split` of dk and dv; the launcher adds the slabs up.
//
// Layout: q, k, v, dout [B·H, T, HEAD_DIM]; lse, delta [B·H, T]; dk, dv [SPLITS, B·H, T, HEAD_DIM].
// Grid: (ceil(T / BC), B·H, SPLITS). Consts: HEAD_DIM, D4, BR, BC (multiples of 4),
// LANES (≤ BR / 4), STRIDED, SPLITS. Params from the launcher: T, scale = 1/√HEAD_DIM.

#include "attention_common.wgsl"

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read_write> dk: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

const GROUPS = K_BLOCKS; // a group per key block
const QUERY_BLOCKS_PER_LANE = (Q_BLOCKS + LANES - 1u) / LANES;
const OUT_PER_LANE = (D4 + LANES - 1u) / LANES;

// Ks, Vs, Qs and dOs come from attention_common.wgsl.
var<workgroup> PsT: array<f32, BC * KQ_STRIDE>;   // P of the current tile, a row per key
var<workgroup> dSsT: array<f32, BC * KQ_STRIDE>;  // and dS
var<workgroup> tileLse: array<f32, BR>;
var<workgroup> tileDelta: array<f32, BR>;

// Query row `row` (of the tile) of a 4×4 block against the 4 key rows `keyRows`, into PsT and dSsT:
// P = exp(S·scale − lse), dS = P ∘ (dP − delta), zero where a key is after the query and for
// queries past T. (Rows are handled by calls with constant swizzles, not a loop over them: CPU
// adapters keep dynamically indexed vectors in memory.)
fn store_probs(row: u32, query: u32, keyRows: vec4<u32>, keys: vec4<u32>, s: vec4<f32>, dp: vec4<f32>) {
  let visible = (keys <= vec4<u32>(query)) & vec4<bool>(query < p.T);
  let prob = select(vec4<f32>(0.0), exp(s * p.scale - tileLse[row]), visible);
  let ds = prob * (dp - tileDelta[row]);
  PsT[keyRows.x * KQ_STRIDE + row] = prob.x;
  PsT[keyRows.y * KQ_STRIDE + row] = prob.y;
  PsT[keyRows.z * KQ_STRIDE + row] = prob.z;
  PsT[keyRows.w * KQ_STRIDE + row] = prob.w;
  dSsT[keyRows.x * KQ_STRIDE + row] = ds.x;
  dSsT[keyRows.y * KQ_STRIDE + row] = ds.y;
  dSsT[keyRows.z * KQ_STRIDE + row] = ds.z;
  dSsT[keyRows.w * KQ_STRIDE + row] = ds.w;
}

@compute @workgroup_size(GROUPS * LANES)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) grid: vec3<u32>) {
  let T = p.T;
  let group = tid / LANES;
  let lane = tid % LANES;
  let c0 = wid.x * BC;
  let base = wid.y * T * HEAD_DIM;
  let rows = k_block_rows(group);     // this group's key rows in the tile
  let keys = vec4<u32>(c0) + rows;    // and in the sequence

  for (var e = tid; e < BC * D4; e += GROUPS * LANES) {
    let row = e / D4;
    let d = (e % D4) * 4u;
    let at = base + (c0 + row) * HEAD_DIM + d;
    Ks[row * ROW4 + e % D4] = row4(k[at], k[at + 1u], k[at + 2u], k[at + 3u], d, c0 + row < T);
    Vs[row * ROW4 + e % D4] = row4(v[at], v[at + 1u], v[at + 2u], v[at + 3u], d, c0 + row < T);
  }
  var dkAcc: array<vec4<f32>, OUT_PER_LANE * 4u>; // [j * 4 + i]: key row i, vec4 lane + j·LANES
  var dvAcc: array<vec4<f32>, OUT_PER_LANE * 4u>;

  // Causal: only queries at or after this tile's first key see it.
  let firstTile = c0 / BR;
  let tiles = split_range((T + BR - 1u) / BR - firstTile, wid.z, SPLITS) + vec2<u32>(firstTile);
  for (var tile = tiles.x; tile < tiles.y; tile++) {
    let r0 = tile * BR;
    workgroupBarrier();
    for (var e = tid; e < BR * D4; e += GROUPS * LANES) {
      let row = e / D4;
      let d = (e % D4) * 4u;
      let at = base + (r0 + row) * HEAD_DIM + d;
      Qs[row * ROW4 + e % D4] = row4(q[at], q[at + 1u], q[at + 2u], q[at + 3u], d, r0 + row < T);
      dOs[row * ROW4 + e % D4] = row4(dout[at], dout[at + 1u], dout[at + 2u], dout[at + 3u], d, r0 + row < T);
    }
    for (var r = tid; r < BR; r += GROUPS * LANES) {
      let row = wid.y * T + min(r0 + r, T - 1u);
      tileLse[r] = lse[row];
      tileDelta[r] = delta[row];
    }
    workgroupBarrier();

    // P and dS, one 4×4 block per item.
    for (var j = 0u; j < QUERY_BLOCKS_PER_LANE; j++) {
      let qb = lane + j * LANES;
      if (qb < Q_BLOCKS) {
        let b = score_and_dp_blocks(qb, group); // column i: query queryRows[i] against this group's keys
        let queryRows = q_block_rows(qb);
        let queries = vec4<u32>(r0) + queryRows;
        store_probs(queryRows.x, queries.x, rows, keys, b.s[0], b.dp[0]);
        store_probs(queryRows.y, queries.y, rows, keys, b.s[1], b.dp[1]);
        store_probs(queryRows.z, queries.z, rows, keys, b.s[2], b.dp[2]);
        store_probs(queryRows.w, queries.w, rows, keys, b.s[3], b.dp[3]);
      }
    }
    workgroupBarrier();

    // dV += Pᵀ·dO and dK += dSᵀ·Q for this lane's vec4s of the group's key rows.
    for (var j = 0u; j < OUT_PER_LANE; j++) {
      let d4 = lane + j * LANES;
      if (d4 < D4) {
        var dv0 = dvAcc[j * 4u];
        var dv1 = dvAcc[j * 4u + 1u];
        var dv2 = dvAcc[j * 4u + 2u];
        var dv3 = dvAcc[j * 4u + 3u];
        var dk0 = dkAcc[j * 4u];
        var dk1 = dkAcc[j * 4u + 1u];
        var dk2 = dkAcc[j * 4u + 2u];
        var dk3 = dkAcc[j * 4u + 3u];
        for (var r = 0u; r < BR; r++) {
          let ov = dOs[r * ROW4 + d4];
          let qv = Qs[r * ROW4 + d4];
          dv0 += PsT[rows.x * KQ_STRIDE + r] * ov;
          dv1 += PsT[rows.y * KQ_STRIDE + r] * ov;
          dv2 += PsT[rows.z * KQ_STRIDE + r] * ov;
          dv3 += PsT[rows.w * KQ_STRIDE + r] * ov;
          dk0 += dSsT[rows.x * KQ_STRIDE + r] * qv;
          dk1 += dSsT[rows.y * KQ_STRIDE + r] * qv;
          dk2 += dSsT[rows.z * KQ_STRIDE + r] * qv;
          dk3 += dSsT[rows.w * KQ_STRIDE + r] * qv;
        }
        dvAcc[j * 4u] = dv0;
        dvAcc[j * 4u + 1u] = dv1;
        dvAcc[j * 4u + 2u] = dv2;
        dvAcc[j * 4u + 3u] = dv3;
        dkAcc[j * 4u] = dk0;
        dkAcc[j * 4u + 1u] = dk1;
        dkAcc[j * 4u + 2u] = dk2;
        dkAcc[j * 4u + 3u] = dk3;
      }
    }
  }

  let slab = wid.z * grid.y + wid.y; // (split, batch·head)
  for (var j = 0u; j < OUT_PER_LANE; j++) {
    let d4 = lane + j * LANES;
    if (d4 < D4) {
      for (var i = 0u; i < 4u; i++) {
        if (keys[i] < T) {
          let dkValue = dkAcc[j * 4u + i] * p.scale;
          let dvValue = dvAcc[j * 4u + i];
          let at = (slab * T + keys[i]) * HEAD_DIM + d4 * 4u;
          for (var x = 0u; x < 4u; x++) {
            if (d4 * 4u + x < HEAD_DIM) {
              dk[at + x] = dkValue[x];
              dv[at + x] = dvValue[x];
            }
          }
        }
      }
    }
  }
}
