// Flash attention backward, dK and dV. One workgroup owns BC key rows of one
// (batch, head) and walks the query tiles from the diagonal down, recomputing P:
//   P = exp(Q·Kᵀ·scale − lse),  dV = Pᵀ·dO,  dS = P ∘ (dO·Vᵀ − delta),  dK = scale · dSᵀ·Q
// Each workgroup writes only its own key rows: no atomics. Register-blocked like the
// forward kernel: 4×4 score blocks, 4-row × vec4 accumulator blocks.
// Layout: q, k, v, dout, dk, dv [B·H, T, HEAD_DIM]; lse, delta [B·H, T]. Grid: (ceil(T / BC), B·H).
// row4() comes from attention_common.wgsl, prepended by the launcher.
// Consts: HEAD_DIM, D4, BR, BC (multiples of 4), WG.

struct Params { T: u32, scale: f32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read_write> dk: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

const S_BLOCKS = (BR / 4u) * (BC / 4u);
const S_PER_THREAD = (S_BLOCKS + WG - 1u) / WG;
const ITEMS = (BC / 4u) * D4;
const PER_THREAD = (ITEMS + WG - 1u) / WG;

var<workgroup> Ks: array<vec4<f32>, BC * D4>;
var<workgroup> Vs: array<vec4<f32>, BC * D4>;
var<workgroup> Qs: array<vec4<f32>, BR * D4>;
var<workgroup> dOs: array<vec4<f32>, BR * D4>;
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
        // Four query rows × four keys, in named registers (CPU adapters keep arrays in memory).
        var s0 = vec4<f32>(0.0); var s1 = vec4<f32>(0.0); var s2 = vec4<f32>(0.0); var s3 = vec4<f32>(0.0);
        var p0 = vec4<f32>(0.0); var p1 = vec4<f32>(0.0); var p2 = vec4<f32>(0.0); var p3 = vec4<f32>(0.0);
        for (var d4 = 0u; d4 < D4; d4++) {
          let k0 = Ks[(cb + 0u) * D4 + d4];
          let k1 = Ks[(cb + 1u) * D4 + d4];
          let k2 = Ks[(cb + 2u) * D4 + d4];
          let k3 = Ks[(cb + 3u) * D4 + d4];
          let v0 = Vs[(cb + 0u) * D4 + d4];
          let v1 = Vs[(cb + 1u) * D4 + d4];
          let v2 = Vs[(cb + 2u) * D4 + d4];
          let v3 = Vs[(cb + 3u) * D4 + d4];
          let q0 = Qs[(rb + 0u) * D4 + d4];
          let q1 = Qs[(rb + 1u) * D4 + d4];
          let q2 = Qs[(rb + 2u) * D4 + d4];
          let q3 = Qs[(rb + 3u) * D4 + d4];
          let o0 = dOs[(rb + 0u) * D4 + d4];
          let o1 = dOs[(rb + 1u) * D4 + d4];
          let o2 = dOs[(rb + 2u) * D4 + d4];
          let o3 = dOs[(rb + 3u) * D4 + d4];
          s0 += vec4<f32>(dot(q0, k0), dot(q0, k1), dot(q0, k2), dot(q0, k3));
          s1 += vec4<f32>(dot(q1, k0), dot(q1, k1), dot(q1, k2), dot(q1, k3));
          s2 += vec4<f32>(dot(q2, k0), dot(q2, k1), dot(q2, k2), dot(q2, k3));
          s3 += vec4<f32>(dot(q3, k0), dot(q3, k1), dot(q3, k2), dot(q3, k3));
          p0 += vec4<f32>(dot(o0, v0), dot(o0, v1), dot(o0, v2), dot(o0, v3));
          p1 += vec4<f32>(dot(o1, v0), dot(o1, v1), dot(o1, v2), dot(o1, v3));
          p2 += vec4<f32>(dot(o2, v0), dot(o2, v1), dot(o2, v2), dot(o2, v3));
          p3 += vec4<f32>(dot(o3, v0), dot(o3, v1), dot(o3, v2), dot(o3, v3));
        }
        store_probs(rb + 0u, cb, c0, r0, T, s0, p0);
        store_probs(rb + 1u, cb, c0, r0, T, s1, p1);
        store_probs(rb + 2u, cb, c0, r0, T, s2, p2);
        store_probs(rb + 3u, cb, c0, r0, T, s3, p3);
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
