// Flash attention backward, dK and dV. One workgroup owns BC key rows of one
// (batch, head) and walks the query tiles from the diagonal down, recomputing P:
//   P = exp(Q·Kᵀ·scale − lse),  dV = Pᵀ·dO,  dS = P ∘ (dO·Vᵀ − delta),  dK = scale · dSᵀ·Q
// Each workgroup writes only its own key rows: no atomics. Register-blocked like the
// forward kernel: 4×4 score blocks, 4-row × vec4 accumulator blocks.
// Layout: q, k, v, dout, dk, dv [B·H, T, HEAD_DIM]; lse, delta [B·H, T]. Grid: (ceil(T / BC), B·H).
// Consts: HEAD_DIM, D4, BR, BC (multiples of 4), WG. Params from the launcher: T, scale = 1/√HEAD_DIM.

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

const ITEMS = (BC / 4u) * D4;
const PER_THREAD = (ITEMS + WG - 1u) / WG;

// Ks, Vs, Qs and dOs come from attention_common.wgsl.
var<workgroup> Ps: array<f32, BR * BC>;
var<workgroup> dSs: array<f32, BR * BC>;
var<workgroup> rowLse: array<f32, BR>;
var<workgroup> rowDelta: array<f32, BR>;

// Row r of a 4×4 block: P = exp(S·scale − lse) and dS = P ∘ (dP − delta), zero where masked.
fn store_probs(r: u32, cb: u32, c0: u32, r0: u32, T: u32, s: vec4<f32>, dp: vec4<f32>) {
  let keys = vec4<u32>(c0 + cb) + vec4<u32>(0u, 1u, 2u, 3u);
  let visible = (keys <= vec4<u32>(r0 + r)) & vec4<bool>(r0 + r < T);
  let prob = select(vec4<f32>(0.0), exp(s * p.scale - rowLse[r]), visible);
  let ds = prob * (dp - rowDelta[r]);
  let at = r * BC + cb;
  Ps[at] = prob.x;
  Ps[at + 1u] = prob.y;
  Ps[at + 2u] = prob.z;
  Ps[at + 3u] = prob.w;
  dSs[at] = ds.x;
  dSs[at + 1u] = ds.y;
  dSs[at + 2u] = ds.z;
  dSs[at + 3u] = ds.w;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let T = p.T;
  let c0 = wid.x * BC;
  let base = wid.y * T * HEAD_DIM;

  for (var e = tid; e < BC * D4; e += WG) {
    let key = c0 + e / D4;
    let d = (e % D4) * 4u;
    let at = base + key * HEAD_DIM + d;
    Ks[e] = row4(k[at], k[at + 1u], k[at + 2u], k[at + 3u], d, key < T);
    Vs[e] = row4(v[at], v[at + 1u], v[at + 2u], v[at + 3u], d, key < T);
  }
  var dkAcc: array<vec4<f32>, PER_THREAD * 4u>;
  var dvAcc: array<vec4<f32>, PER_THREAD * 4u>;

  // Causal: only queries at or after this block's first key see it.
  for (var r0 = (c0 / BR) * BR; r0 < T; r0 += BR) {
    workgroupBarrier();
    for (var e = tid; e < BR * D4; e += WG) {
      let row = r0 + e / D4;
      let d = (e % D4) * 4u;
      let at = base + row * HEAD_DIM + d;
      Qs[e] = row4(q[at], q[at + 1u], q[at + 2u], q[at + 3u], d, row < T);
      dOs[e] = row4(dout[at], dout[at + 1u], dout[at + 2u], dout[at + 3u], d, row < T);
    }
    if (tid < BR) {
      let row = min(r0 + tid, T - 1u);
      rowLse[tid] = lse[wid.y * T + row];
      rowDelta[tid] = delta[wid.y * T + row];
    }
    workgroupBarrier();

    for (var j = 0u; j < S_PER_THREAD; j++) {
      let blk = tid + j * WG;
      if (blk < S_BLOCKS) {
        let rb = (blk / (BC / 4u)) * 4u;
        let cb = (blk % (BC / 4u)) * 4u;
        let b = score_and_dp_blocks(rb, cb);
        store_probs(rb + 0u, cb, c0, r0, T, b.s[0], b.dp[0]);
        store_probs(rb + 1u, cb, c0, r0, T, b.s[1], b.dp[1]);
        store_probs(rb + 2u, cb, c0, r0, T, b.s[2], b.dp[2]);
        store_probs(rb + 3u, cb, c0, r0, T, b.s[3], b.dp[3]);
      }
    }
    workgroupBarrier();

    // dV += Pᵀ·dO and dK += dSᵀ·Q, 4 key rows × one vec4 of the head per item.
    for (var j = 0u; j < PER_THREAD; j++) {
      let item = tid + j * WG;
      if (item < ITEMS) {
        let cb = (item / D4) * 4u;
        let d4 = item % D4;
        var dv0 = dvAcc[j * 4u]; var dv1 = dvAcc[j * 4u + 1u]; var dv2 = dvAcc[j * 4u + 2u]; var dv3 = dvAcc[j * 4u + 3u];
        var dk0 = dkAcc[j * 4u]; var dk1 = dkAcc[j * 4u + 1u]; var dk2 = dkAcc[j * 4u + 2u]; var dk3 = dkAcc[j * 4u + 3u];
        for (var r = 0u; r < BR; r++) {
          let ov = dOs[r * D4 + d4];
          let qv = Qs[r * D4 + d4];
          let at = r * BC + cb;
          dv0 += Ps[at] * ov; dv1 += Ps[at + 1u] * ov; dv2 += Ps[at + 2u] * ov; dv3 += Ps[at + 3u] * ov;
          dk0 += dSs[at] * qv; dk1 += dSs[at + 1u] * qv; dk2 += dSs[at + 2u] * qv; dk3 += dSs[at + 3u] * qv;
        }
        dvAcc[j * 4u] = dv0; dvAcc[j * 4u + 1u] = dv1; dvAcc[j * 4u + 2u] = dv2; dvAcc[j * 4u + 3u] = dv3;
        dkAcc[j * 4u] = dk0; dkAcc[j * 4u + 1u] = dk1; dkAcc[j * 4u + 2u] = dk2; dkAcc[j * 4u + 3u] = dk3;
      }
    }
  }

  for (var j = 0u; j < PER_THREAD; j++) {
    let item = tid + j * WG;
    if (item < ITEMS) {
      let cb = (item / D4) * 4u;
      let d = (item % D4) * 4u;
      for (var i = 0u; i < 4u; i++) {
        let key = c0 + cb + i;
        if (key < T) {
          let dkValue = dkAcc[j * 4u + i] * p.scale;
          let dvValue = dvAcc[j * 4u + i];
          for (var x = 0u; x < 4u; x++) {
            if (d + x < HEAD_DIM) {
              dk[base + key * HEAD_DIM + d + x] = dkValue[x];
              dv[base + key * HEAD_DIM + d + x] = dvValue[x];
            }
          }
        }
      }
    }
  }
}
