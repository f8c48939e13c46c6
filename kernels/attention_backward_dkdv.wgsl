// Flash attention backward, dK and dV. One workgroup owns BC key rows of one
// (batch, head) and walks the query tiles from the diagonal down, recomputing P:
//   P = exp(Q·Kᵀ·scale − lse),  dV = Pᵀ·dO,  dS = P ∘ (dO·Vᵀ − delta),  dK = scale · dSᵀ·Q
// Each workgroup writes only its own key rows: no atomics. Register-blocked like the
// forward kernel: 4×4 score blocks, 4-row × vec4 accumulator blocks.
// Layout: q, k, v, dout, dk, dv [B·H, T, HEAD_DIM]; lse, delta [B·H, T]. Grid: (ceil(T / BC), B·H).
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

fn row4(x0: f32, x1: f32, x2: f32, x3: f32, d: u32, valid: bool) -> vec4<f32> {
  let inside = (vec4<u32>(d, d + 1u, d + 2u, d + 3u) < vec4<u32>(HEAD_DIM)) & vec4<bool>(valid);
  return select(vec4<f32>(0.0), vec4<f32>(x0, x1, x2, x3), inside);
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
        var s = array<vec4<f32>, 4>();
        var dp = array<vec4<f32>, 4>();
        for (var d4 = 0u; d4 < D4; d4++) {
          let k0 = Ks[(cb + 0u) * D4 + d4];
          let k1 = Ks[(cb + 1u) * D4 + d4];
          let k2 = Ks[(cb + 2u) * D4 + d4];
          let k3 = Ks[(cb + 3u) * D4 + d4];
          let v0 = Vs[(cb + 0u) * D4 + d4];
          let v1 = Vs[(cb + 1u) * D4 + d4];
          let v2 = Vs[(cb + 2u) * D4 + d4];
          let v3 = Vs[(cb + 3u) * D4 + d4];
          for (var i = 0u; i < 4u; i++) {
            let qv = Qs[(rb + i) * D4 + d4];
            let ov = dOs[(rb + i) * D4 + d4];
            s[i] += vec4<f32>(dot(qv, k0), dot(qv, k1), dot(qv, k2), dot(qv, k3));
            dp[i] += vec4<f32>(dot(ov, v0), dot(ov, v1), dot(ov, v2), dot(ov, v3));
          }
        }
        for (var i = 0u; i < 4u; i++) {
          let r = rb + i;
          let keys = vec4<u32>(c0 + cb) + vec4<u32>(0u, 1u, 2u, 3u);
          let visible = (keys <= vec4<u32>(r0 + r)) & vec4<bool>(r0 + r < T);
          let prob = select(vec4<f32>(0.0), exp(s[i] * p.scale - rowLse[r]), visible);
          let ds = prob * (dp[i] - rowDelta[r]);
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
      }
    }
    workgroupBarrier();

    // dV += Pᵀ·dO and dK += dSᵀ·Q, 4 key rows × one vec4 of the head per item.
    for (var j = 0u; j < PER_THREAD; j++) {
      let item = tid + j * WG;
      if (item < ITEMS) {
        let cb = (item / D4) * 4u;
        let d4 = item % D4;
        for (var r = 0u; r < BR; r++) {
          let ov = dOs[r * D4 + d4];
          let qv = Qs[r * D4 + d4];
          for (var i = 0u; i < 4u; i++) {
            dvAcc[j * 4u + i] += Ps[r * BC + cb + i] * ov;
            dkAcc[j * 4u + i] += dSs[r * BC + cb + i] * qv;
          }
        }
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
