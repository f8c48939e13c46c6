// Causal flash attention, forward. One workgroup computes BR query rows of one
// (batch, head): it walks the key/value tiles of BC rows up to the diagonal, keeps
// them in workgroup memory, and folds each tile into the output with an online
// softmax (running row max and sum), so the T×T score matrix never exists.
// Saves lse = max + log(sum) per row for the backward pass.
//
// Register blocking: the score tile is computed in 4×4 blocks (vec4 dot products
// along the head dimension), the output in 4-row × vec4 blocks held in registers.
// The head dimension is padded with zeros to D4 vec4s in workgroup memory.
//
// Layout: q, k, v, o [B·H, T, HEAD_DIM]; lse [B·H, T]. Grid: (ceil(T / BR), B·H).
// Consts: HEAD_DIM, D4 = ceil(HEAD_DIM / 4), BR and BC (multiples of 4), WG (threads).
// Params from the launcher (src/gpu/attention.ts): T, scale = 1/√HEAD_DIM.

#include "attention_common.wgsl"

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

// A finite "minus infinity": exp(MASKED - m) is exactly 0 and MASKED - MASKED is not NaN.
const MASKED = -1e30;
const O_ITEMS = (BR / 4u) * D4;                   // 4-row × vec4 blocks of the output
const O_PER_THREAD = (O_ITEMS + WG - 1u) / WG;

// Qs (this block's queries, pre-scaled by 1/√D), Ks and Vs come from attention_common.wgsl.
var<workgroup> Ps: array<f32, BR * BC>;           // scores, then probabilities, of the current tile
var<workgroup> rowMax: array<f32, BR>;
var<workgroup> rowSum: array<f32, BR>;
var<workgroup> rowRescale: array<f32, BR>;        // exp(old max − new max) for the current tile

// Row r of a 4×4 score block into Ps, MASKED where the key is after the query.
fn store_scores(r: u32, cb: u32, c0: u32, r0: u32, s: vec4<f32>) {
  let keys = vec4<u32>(c0 + cb) + vec4<u32>(0u, 1u, 2u, 3u);
  let masked = select(vec4<f32>(MASKED), s, keys <= vec4<u32>(r0 + r));
  let at = r * BC + cb;
  Ps[at] = masked.x;
  Ps[at + 1u] = masked.y;
  Ps[at + 2u] = masked.z;
  Ps[at + 3u] = masked.w;
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
    Qs[e] = row4(q[at], q[at + 1u], q[at + 2u], q[at + 3u], d, row < T) * p.scale;
  }
  if (tid < BR) {
    rowMax[tid] = MASKED;
    rowSum[tid] = 0.0;
  }
  var acc: array<vec4<f32>, O_PER_THREAD * 4u>;

  let keyEnd = min(r0 + BR, T); // causal: no query in this block sees a key at or past keyEnd
  for (var c0 = 0u; c0 < keyEnd; c0 += BC) {
    workgroupBarrier(); // everyone is done with the previous tile
    for (var e = tid; e < BC * D4; e += WG) {
      let key = c0 + e / D4;
      let d = (e % D4) * 4u;
      let at = base + key * HEAD_DIM + d;
      Ks[e] = row4(k[at], k[at + 1u], k[at + 2u], k[at + 3u], d, key < T);
      Vs[e] = row4(v[at], v[at + 1u], v[at + 2u], v[at + 3u], d, key < T);
    }
    workgroupBarrier();

    // Scores S = Q·Kᵀ, one 4×4 block per item.
    for (var j = 0u; j < S_PER_THREAD; j++) {
      let blk = tid + j * WG;
      if (blk < S_BLOCKS) {
        let rb = (blk / (BC / 4u)) * 4u;
        let cb = (blk % (BC / 4u)) * 4u;
        let s = score_block(rb, cb);
        store_scores(rb + 0u, cb, c0, r0, s[0]);
        store_scores(rb + 1u, cb, c0, r0, s[1]);
        store_scores(rb + 2u, cb, c0, r0, s[2]);
        store_scores(rb + 3u, cb, c0, r0, s[3]);
      }
    }
    workgroupBarrier();

    // Online softmax, one thread per row.
    if (tid < BR) {
      let oldMax = rowMax[tid];
      var newMax = oldMax;
      for (var c = 0u; c < BC; c++) { newMax = max(newMax, Ps[tid * BC + c]); }
      var sum = 0.0;
      for (var c = 0u; c < BC; c++) {
        let prob = exp(Ps[tid * BC + c] - newMax);
        Ps[tid * BC + c] = prob;
        sum += prob;
      }
      let rescale = exp(oldMax - newMax);
      rowRescale[tid] = rescale;
      rowSum[tid] = rowSum[tid] * rescale + sum;
      rowMax[tid] = newMax;
    }
    workgroupBarrier();

    // O = rescale · O + P·V, one 4-row × vec4 block per item.
    for (var j = 0u; j < O_PER_THREAD; j++) {
      let item = tid + j * WG;
      if (item < O_ITEMS) {
        let rb = (item / D4) * 4u;
        let d4 = item % D4;
        var a0 = acc[j * 4u] * rowRescale[rb];
        var a1 = acc[j * 4u + 1u] * rowRescale[rb + 1u];
        var a2 = acc[j * 4u + 2u] * rowRescale[rb + 2u];
        var a3 = acc[j * 4u + 3u] * rowRescale[rb + 3u];
        for (var c = 0u; c < BC; c++) {
          let vv = Vs[c * D4 + d4];
          a0 += Ps[rb * BC + c] * vv;
          a1 += Ps[(rb + 1u) * BC + c] * vv;
          a2 += Ps[(rb + 2u) * BC + c] * vv;
          a3 += Ps[(rb + 3u) * BC + c] * vv;
        }
        acc[j * 4u] = a0; acc[j * 4u + 1u] = a1; acc[j * 4u + 2u] = a2; acc[j * 4u + 3u] = a3;
      }
    }
  }
  workgroupBarrier();

  for (var j = 0u; j < O_PER_THREAD; j++) {
    let item = tid + j * WG;
    if (item < O_ITEMS) {
      let rb = (item / D4) * 4u;
      let d = (item % D4) * 4u;
      for (var i = 0u; i < 4u; i++) {
        let row = r0 + rb + i;
        if (row < T) {
          let value = acc[j * 4u + i] / rowSum[rb + i];
          for (var x = 0u; x < 4u; x++) {
            if (d + x < HEAD_DIM) { o[base + row * HEAD_DIM + d + x] = value[x]; }
          }
        }
      }
    }
  }
  if (tid < BR && r0 + tid < T) {
    lse[wid.y * T + r0 + tid] = rowMax[tid] + log(rowSum[tid]);
  }
}
