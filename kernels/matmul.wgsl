// Tiled matrix multiply with register blocking, batched:
//   C[b] = op(A[b]) · op(B[b]) (+ bias) (+ C[b] when ACCUMULATE)
// op(A) is M×K: A is stored [M, K], or [K, M] when TRANS_A.
// op(B) is K×N: B is stored [K, N], or [N, K] when TRANS_B.
// A stride of 0 broadcasts one matrix over the batch (shared weights).
//
// Consts from the launcher (src/gpu/matmul.ts):
//   TILE_M, TILE_N, TILE_K  workgroup output tile and depth step (TILE_K % 4 == 0)
//   TM                      output rows per thread (multiple of 4); each thread owns TM × 4 outputs
//   TRANS_A, TRANS_B, HAS_BIAS, ACCUMULATE
//   CHECK_BOUNDS            false only when M, N, K are multiples of the tile, which drops edge tests
// Params from the launcher: M, N, K, and strideA, strideB, strideC between the matrices of a batch.
// The workgroup is (TILE_N / 4) × (TILE_M / TM) threads. Tiles are kept in workgroup
// memory as vec4 of `low_t` (f16 on the f16 path), accumulation is always f32.

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG_X = TILE_N / 4u;
const WG_Y = TILE_M / TM;
const THREADS = WG_X * WG_Y;
const K4 = TILE_K / 4u;

// As[m * K4 + k4]: 4 consecutive k of row m.  Bs[k * WG_X + n4]: 4 consecutive n of row k.
var<workgroup> As: array<vec4<low_t>, TILE_M * K4>;
var<workgroup> Bs: array<vec4<low_t>, TILE_K * WG_X>;

fn a_at(base: u32, m: u32, k: u32) -> f32 {
  if (CHECK_BOUNDS && (m >= p.M || k >= p.K)) { return 0.0; }
  if (TRANS_A) { return A[base + k * p.M + m]; }
  return A[base + m * p.K + k];
}

fn b_at(base: u32, k: u32, n: u32) -> f32 {
  if (CHECK_BOUNDS && (k >= p.K || n >= p.N)) { return 0.0; }
  if (TRANS_B) { return B[base + n * p.K + k]; }
  return B[base + k * p.N + n];
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32,
        @builtin(workgroup_id) wid: vec3<u32>) {
  let row0 = wid.y * TILE_M;
  let col0 = wid.x * TILE_N;
  let baseA = wid.z * p.strideA;
  let baseB = wid.z * p.strideB;

  var acc: array<vec4<f32>, TM>;
  for (var i = 0u; i < TM; i++) { acc[i] = vec4<f32>(0.0); }

  for (var kt = 0u; kt < p.K; kt += TILE_K) {
    for (var e = tid; e < TILE_M * K4; e += THREADS) {
      let m = row0 + e / K4;
      let k = kt + (e % K4) * 4u;
      As[e] = vec4<low_t>(vec4<f32>(a_at(baseA, m, k), a_at(baseA, m, k + 1u),
                                   a_at(baseA, m, k + 2u), a_at(baseA, m, k + 3u)));
    }
    for (var e = tid; e < TILE_K * WG_X; e += THREADS) {
      let k = kt + e / WG_X;
      let n = col0 + (e % WG_X) * 4u;
      Bs[e] = vec4<low_t>(vec4<f32>(b_at(baseB, k, n), b_at(baseB, k, n + 1u),
                                   b_at(baseB, k, n + 2u), b_at(baseB, k, n + 3u)));
    }
    workgroupBarrier();

    for (var k4 = 0u; k4 < K4; k4++) {
      let b0 = Bs[(k4 * 4u + 0u) * WG_X + lid.x];
      let b1 = Bs[(k4 * 4u + 1u) * WG_X + lid.x];
      let b2 = Bs[(k4 * 4u + 2u) * WG_X + lid.x];
      let b3 = Bs[(k4 * 4u + 3u) * WG_X + lid.x];
      for (var i = 0u; i < TM; i++) {
        let a = As[(lid.y * TM + i) * K4 + k4];
        acc[i] += vec4<f32>(b0 * a.x + b1 * a.y) + vec4<f32>(b2 * a.z + b3 * a.w);
      }
    }
    workgroupBarrier();
  }

  let baseC = wid.z * p.strideC;
  let n = col0 + lid.x * 4u;
  for (var i = 0u; i < TM; i++) {
    let m = row0 + lid.y * TM + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      if (n + j >= p.N) { break; }
      let at = baseC + m * p.N + n + j;
      var v = acc[i][j];
      if (HAS_BIAS) { v += bias[n + j]; }
      if (ACCUMULATE) { v += C[at]; }
      C[at] = v;
    }
  }
}
