// Flash attention backward, dQ. One workgroup owns BR query rows of one (batch, head)
// and walks the key tiles up to the diagonal, recomputing P from the saved lse:
//   P = exp(Q·Kᵀ·scale − lse),  dS = P ∘ (dO·Vᵀ − delta),  dQ = scale · dS·K
// Each workgroup writes only its own rows: no atomics. Register-blocked like the
// forward kernel: 4×4 score blocks, 4-row × vec4 accumulator blocks.
// Layout: q, k, v, dout, dq [B·H, T, HEAD_DIM]; lse, delta [B·H, T]. Grid: (ceil(T / BR), B·H).
// row4() comes from attention_common.wgsl, prepended by the launcher.
// Consts: HEAD_DIM, D4, BR, BC (multiples of 4), WG.

struct Params { T: u32, scale: f32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

const S_BLOCKS = (BR / 4u) * (BC / 4u);
const S_PER_THREAD = (S_BLOCKS + WG - 1u) / WG;
const ITEMS = (BR / 4u) * D4;
const PER_THREAD = (ITEMS + WG - 1u) / WG;

var<workgroup> Qs: array<vec4<f32>, BR * D4>;
var<workgroup> dOs: array<vec4<f32>, BR * D4>;
var<workgroup> Ks: array<vec4<f32>, BC * D4>;
var<workgroup> Vs: array<vec4<f32>, BC * D4>;
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
        store_ds(rb + 0u, cb, c0, r0, T, s0, p0);
        store_ds(rb + 1u, cb, c0, r0, T, s1, p1);
        store_ds(rb + 2u, cb, c0, r0, T, s2, p2);
        store_ds(rb + 3u, cb, c0, r0, T, s3, p3);
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
