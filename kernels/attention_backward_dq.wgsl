// Flash attention backward, dQ. One workgroup owns BR query rows of one (batch, head)
// and walks the key tiles up to the diagonal, recomputing P from the saved lse:
//   P = exp(Q·Kᵀ·scale − lse),  dS = P ∘ (dO·Vᵀ − delta),  dQ = scale · dS·K
// Each workgroup writes only its own rows: no atomics. Register-blocked like the
// forward kernel: 4×4 score blocks, 4-row × vec4 accumulator blocks.
// Layout: q, k, v, dout, dq [B·H, T, HEAD_DIM]; lse, delta [B·H, T]. Grid: (ceil(T / BR), B·H).
// Consts: HEAD_DIM, D4, BR, BC (multiples of 4), WG. Params from the launcher: T, scale = 1/√HEAD_DIM.

#include "attention_common.wgsl"

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

const ITEMS = (BR / 4u) * D4;
const PER_THREAD = (ITEMS + WG - 1u) / WG;

// Qs, dOs, Ks and Vs come from attention_common.wgsl.
var<workgroup> dSs: array<f32, BR * BC>;
var<workgroup> rowLse: array<f32, BR>;
var<workgroup> rowDelta: array<f32, BR>;

// Row r of a 4×4 block: dS = exp(S·scale − lse) ∘ (dP − delta), zero where masked.
fn store_ds(r: u32, cb: u32, c0: u32, r0: u32, T: u32, s: vec4<f32>, dp: vec4<f32>) {
  let keys = vec4<u32>(c0 + cb) + vec4<u32>(0u, 1u, 2u, 3u);
  let visible = (keys <= vec4<u32>(r0 + r)) & vec4<bool>(r0 + r < T);
  let ds = select(vec4<f32>(0.0), exp(s * p.scale - rowLse[r]) * (dp - rowDelta[r]), visible);
  let at = r * BC + cb;
  dSs[at] = ds.x;
  dSs[at + 1u] = ds.y;
  dSs[at + 2u] = ds.z;
  dSs[at + 3u] = ds.w;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let T = p.T;
  let r0 = wid.x * BR;
  let base = wid.y * T * HEAD_DIM;

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
  var acc: array<vec4<f32>, PER_THREAD * 4u>;

  let keyEnd = min(r0 + BR, T);
  for (var c0 = 0u; c0 < keyEnd; c0 += BC) {
    workgroupBarrier();
    for (var e = tid; e < BC * D4; e += WG) {
      let key = c0 + e / D4;
      let d = (e % D4) * 4u;
      let at = base + key * HEAD_DIM + d;
      Ks[e] = row4(k[at], k[at + 1u], k[at + 2u], k[at + 3u], d, key < T);
      Vs[e] = row4(v[at], v[at + 1u], v[at + 2u], v[at + 3u], d, key < T);
    }
    workgroupBarrier();

    for (var j = 0u; j < S_PER_THREAD; j++) {
      let blk = tid + j * WG;
      if (blk < S_BLOCKS) {
        let rb = (blk / (BC / 4u)) * 4u;
        let cb = (blk % (BC / 4u)) * 4u;
        let b = score_and_dp_blocks(rb, cb);
        store_ds(rb + 0u, cb, c0, r0, T, b.s[0], b.dp[0]);
        store_ds(rb + 1u, cb, c0, r0, T, b.s[1], b.dp[1]);
        store_ds(rb + 2u, cb, c0, r0, T, b.s[2], b.dp[2]);
        store_ds(rb + 3u, cb, c0, r0, T, b.s[3], b.dp[3]);
      }
    }
    workgroupBarrier();

    // dQ += dS·K
    for (var j = 0u; j < PER_THREAD; j++) {
      let item = tid + j * WG;
      if (item < ITEMS) {
        let rb = (item / D4) * 4u;
        let d4 = item % D4;
        var a0 = acc[j * 4u]; var a1 = acc[j * 4u + 1u]; var a2 = acc[j * 4u + 2u]; var a3 = acc[j * 4u + 3u];
        for (var c = 0u; c < BC; c++) {
          let kv = Ks[c * D4 + d4];
          a0 += dSs[rb * BC + c] * kv;
          a1 += dSs[(rb + 1u) * BC + c] * kv;
          a2 += dSs[(rb + 2u) * BC + c] * kv;
          a3 += dSs[(rb + 3u) * BC + c] * kv;
        }
        acc[j * 4u] = a0; acc[j * 4u + 1u] = a1; acc[j * 4u + 2u] = a2; acc[j * 4u + 3u] = a3;
      }
    }
  }

  for (var j = 0u; j < PER_THREAD; j++) {
    let item = tid + j * WG;
    if (item < ITEMS) {
      let rb = (item / D4) * 4u;
      let d = (item % D4) * 4u;
      for (var i = 0u; i < 4u; i++) {
        let row = r0 + rb + i;
        if (row < T) {
          let value = acc[j * 4u + i] * p.scale;
          for (var x = 0u; x < 4u; x++) {
            if (d + x < HEAD_DIM) { dq[base + row * HEAD_DIM + d + x] = value[x]; }
          }
        }
      }
    }
  }
}
