// Flash attention backward, dQ. One workgroup owns BR query rows of one (batch, head) and walks
// the key tiles up to the diagonal, recomputing P from the saved lse:
//   P = exp(Q·Kᵀ·scale − lse),  dS = P ∘ (dO·Vᵀ − delta),  dQ = scale · dS·K
// Threads as in the forward kernel (attention_common.wgsl): group g owns query block g; on each
// key tile its lanes compute key blocks l, l + LANES, … of dS (4×4 blocks of S and dP in one
// pass), then vec4s l, l + LANES, … of the group's rows of dQ. Each workgroup writes only its own
// rows: no atomics. With SPLITS > 1 the key tiles are split into SPLITS shares, one workgroup each
// (grid z), which writes its partial dQ to slab `split` of dq; the launcher adds the slabs up.
//
// Layout: q, k, v, dout [B·H, T, HEAD_DIM]; lse, delta [B·H, T]; dq [SPLITS, B·H, T, HEAD_DIM].
// Grid: (ceil(T / BR), B·H, SPLITS). Consts: HEAD_DIM, D4, BR, BC (multiples of 4), LANES (≤ BC / 4),
// STRIDED, SPLITS. Params from the launcher: T, scale = 1/√HEAD_DIM.

#include "attention_common.wgsl"

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

const GROUPS = Q_BLOCKS; // a group per query block
const KEY_BLOCKS_PER_LANE = (K_BLOCKS + LANES - 1u) / LANES;
const OUT_PER_LANE = (D4 + LANES - 1u) / LANES;

// Qs, dOs, Ks and Vs come from attention_common.wgsl.
var<workgroup> dSs: array<f32, BR * QK_STRIDE>;

// One row of a 4×4 block into dSs: dS = exp(S·scale − lse) ∘ (dP − delta), zero where the key is
// after the query and for rows past T. (Rows are handled by calls with constant swizzles, not a
// loop over them: CPU adapters keep dynamically indexed vectors in memory.)
fn store_ds(row: u32, query: u32, kb: u32, keys: vec4<u32>, s: vec4<f32>, dp: vec4<f32>, lse: f32, delta: f32) {
  let visible = (keys <= vec4<u32>(query)) & vec4<bool>(query < p.T);
  let ds = select(vec4<f32>(0.0), exp(s * p.scale - lse) * (dp - delta), visible);
  let at = row * QK_STRIDE + kb * K_BLOCK_STEP;
  dSs[at] = ds.x;
  dSs[at + K_ROW_STEP] = ds.y;
  dSs[at + 2u * K_ROW_STEP] = ds.z;
  dSs[at + 3u * K_ROW_STEP] = ds.w;
}

@compute @workgroup_size(GROUPS * LANES)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) grid: vec3<u32>) {
  let T = p.T;
  let group = tid / LANES;
  let lane = tid % LANES;
  let r0 = wid.x * BR;
  let base = wid.y * T * HEAD_DIM;
  let rows = q_block_rows(group);
  let queries = vec4<u32>(r0) + rows;

  for (var e = tid; e < BR * D4; e += GROUPS * LANES) {
    let row = e / D4;
    let d = (e % D4) * 4u;
    let at = base + (r0 + row) * HEAD_DIM + d;
    Qs[row * ROW4 + e % D4] = row4(q[at], q[at + 1u], q[at + 2u], q[at + 3u], d, r0 + row < T);
    dOs[row * ROW4 + e % D4] = row4(dout[at], dout[at + 1u], dout[at + 2u], dout[at + 3u], d, r0 + row < T);
  }
  let saved = vec4<u32>(wid.y * T) + min(queries, vec4<u32>(T - 1u)); // rows past T read row T − 1's
  let rowLse = vec4<f32>(lse[saved.x], lse[saved.y], lse[saved.z], lse[saved.w]);
  let rowDelta = vec4<f32>(delta[saved.x], delta[saved.y], delta[saved.z], delta[saved.w]);
  var acc: array<vec4<f32>, OUT_PER_LANE * 4u>; // acc[j * 4 + i]: row i, vec4 lane + j·LANES

  let tiles = split_range((min(r0 + BR, T) + BC - 1u) / BC, wid.z, SPLITS);
  for (var tile = tiles.x; tile < tiles.y; tile++) {
    let c0 = tile * BC;
    workgroupBarrier();
    for (var e = tid; e < BC * D4; e += GROUPS * LANES) {
      let row = e / D4;
      let d = (e % D4) * 4u;
      let at = base + (c0 + row) * HEAD_DIM + d;
      Ks[row * ROW4 + e % D4] = row4(k[at], k[at + 1u], k[at + 2u], k[at + 3u], d, c0 + row < T);
      Vs[row * ROW4 + e % D4] = row4(v[at], v[at + 1u], v[at + 2u], v[at + 3u], d, c0 + row < T);
    }
    workgroupBarrier();

    // dS, one 4×4 block per item.
    for (var j = 0u; j < KEY_BLOCKS_PER_LANE; j++) {
      let kb = lane + j * LANES;
      if (kb < K_BLOCKS) {
        let b = score_and_dp_blocks(group, kb);
        let keys = vec4<u32>(c0) + k_block_rows(kb);
        store_ds(rows.x, queries.x, kb, keys, b.s[0], b.dp[0], rowLse.x, rowDelta.x);
        store_ds(rows.y, queries.y, kb, keys, b.s[1], b.dp[1], rowLse.y, rowDelta.y);
        store_ds(rows.z, queries.z, kb, keys, b.s[2], b.dp[2], rowLse.z, rowDelta.z);
        store_ds(rows.w, queries.w, kb, keys, b.s[3], b.dp[3], rowLse.w, rowDelta.w);
      }
    }
    workgroupBarrier();

    // dQ += dS·K for this lane's vec4s of the group's rows.
    for (var j = 0u; j < OUT_PER_LANE; j++) {
      let d4 = lane + j * LANES;
      if (d4 < D4) {
        var a0 = acc[j * 4u];
        var a1 = acc[j * 4u + 1u];
        var a2 = acc[j * 4u + 2u];
        var a3 = acc[j * 4u + 3u];
        for (var c = 0u; c < BC; c++) {
          let kv = Ks[c * ROW4 + d4];
          a0 += dSs[rows.x * QK_STRIDE + c] * kv;
          a1 += dSs[rows.y * QK_STRIDE + c] * kv;
          a2 += dSs[rows.z * QK_STRIDE + c] * kv;
          a3 += dSs[rows.w * QK_STRIDE + c] * kv;
        }
        acc[j * 4u] = a0;
        acc[j * 4u + 1u] = a1;
        acc[j * 4u + 2u] = a2;
        acc[j * 4u + 3u] = a3;
      }
    }
  }

  let slab = wid.z * grid.y + wid.y; // (split, batch·head)
  for (var j = 0u; j < OUT_PER_LANE; j++) {
    let d4 = lane + j * LANES;
    if (d4 < D4) {
      for (var i = 0u; i < 4u; i++) {
        if (queries[i] < T) {
          let value = acc[j * 4u + i] * p.scale;
          let at = (slab * T + queries[i]) * HEAD_DIM + d4 * 4u;
          for (var x = 0u; x < 4u; x++) {
            if (d4 * 4u + x < HEAD_DIM) { dq[at + x] = value[x]; }
          }
        }
      }
    }
  }
}
