// Tiled matrix multiply with register blocking, batched:
//   C[b] = op(A[b]) · op(B[b]) (+ bias) (+ C[b] when ACCUMULATE)
// op(A) is M×K: A is stored [M, K], or [K, M] when TRANS_A.
// op(B) is K×N: B is stored [K, N], or [N, K] when TRANS_B.
// A stride of 0 broadcasts one matrix over the batch (shared weights).
//
// Consts from the launcher (src/gpu/matmul.ts):
//   TILE_M, TILE_N, TILE_K  workgroup output tile and depth step (TILE_K % 4 == 0)
//   TM                      output rows per thread (multiple of 4); each thread owns TM × 8 outputs, in
//                           two blocks of 4 columns TILE_N / 2 apart (TILE_N % 8 == 0)
//   TRANS_A, TRANS_B, HAS_BIAS, ACCUMULATE
//   VEC_A, VEC_B            the operand's stored rows are a multiple of 4 long: it loads as aligned vec4
//   CHECK_BOUNDS            false only when M, N, K are multiples of the tile, which drops edge tests
// Params from the launcher: M, N, K, and strideA, strideB, strideC between the matrices of a batch.
// Grid: (ceil(N / TILE_N), ceil(M / TILE_M), batch). The workgroup is (TILE_N / 8) × (TILE_M / TM) threads.
//
// A and B are `low_t`: f32, or f16 on the f16 path (half the bytes loaded and kept in workgroup
// memory). Products and sums are f32 either way: the f16 path errs only by its inputs' rounding.
// Global loads are coalesced: consecutive threads read consecutive vec4s along the operand's
// stored rows, whichever its layout. A transposed operand is scattered into the tile's layout as it
// is stored to workgroup memory, so that the inner loop is the same for every layout. In the inner
// loop, neighbouring threads read neighbouring vec4s of B, and each value of A read serves 8 outputs.

@group(0) @binding(0) var<storage, read> A: array<vec4<low_t>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<low_t>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const N4 = TILE_N / 4u;
const WG_X = TILE_N / 8u;
const WG_Y = TILE_M / TM;
const THREADS = WG_X * WG_Y;
const K4 = TILE_K / 4u;

// As[m * K4 + k4]: 4 consecutive k of row m.  Bs[k * N4 + n4]: 4 consecutive n of row k.
var<workgroup> As: array<vec4<low_t>, TILE_M * K4>;
var<workgroup> Bs: array<vec4<low_t>, TILE_K * N4>;

const OPERAND_A = 0u;
const OPERAND_B = 1u;

// WGSL cannot pass a storage array to a function: loads name their operand, a constant at every call.
fn operand_vec4(operand: u32, at4: u32) -> vec4<low_t> {
  if (operand == OPERAND_A) { return A[at4]; }
  return B[at4];
}

fn operand_scalar(operand: u32, at: u32) -> low_t {
  if (operand == OPERAND_A) { return A[at / 4u][at % 4u]; }
  return B[at / 4u][at % 4u];
}

// Elements c..c+3 (c % 4 == 0) of row r of a matrix stored [rows, cols] from element `base`; zero
// outside it. Rows whose length is a multiple of 4 (`vec`) load as one aligned vec4, which is then
// wholly inside or wholly outside; other rows load element by element.
fn load4(operand: u32, vec: bool, base: u32, r: u32, c: u32, rows: u32, cols: u32) -> vec4<low_t> {
  if (vec) {
    if (CHECK_BOUNDS && (r >= rows || c >= cols)) { return vec4<low_t>(); }
    return operand_vec4(operand, (base + r * cols + c) / 4u);
  }
  var v = vec4<low_t>();
  if (r < rows) {
    for (var j = 0u; j < 4u; j++) {
      if (c + j < cols) { v[j] = operand_scalar(operand, base + r * cols + c + j); }
    }
  }
  return v;
}

// Loads the tiles of op(A) at (row0, kt) and op(B) at (kt, col0) into As and Bs.
fn stage_tiles(tid: u32, baseA: u32, baseB: u32, row0: u32, col0: u32, kt: u32) {
  for (var e = tid; e < TILE_M * K4; e += THREADS) {
    if (TRANS_A) {
      // 4 consecutive m of row k, scattered into 4 rows of As.
      let k = e / (TILE_M / 4u);
      let m = (e % (TILE_M / 4u)) * 4u;
      let v = load4(OPERAND_A, VEC_A, baseA, kt + k, row0 + m, p.K, p.M);
      for (var j = 0u; j < 4u; j++) { As[(m + j) * K4 + k / 4u][k % 4u] = v[j]; }
    } else {
      As[e] = load4(OPERAND_A, VEC_A, baseA, row0 + e / K4, kt + (e % K4) * 4u, p.M, p.K);
    }
  }
  for (var e = tid; e < TILE_K * N4; e += THREADS) {
    if (TRANS_B) {
      // 4 consecutive k of row n, scattered into 4 rows of Bs.
      let n = e / K4;
      let k = (e % K4) * 4u;
      let v = load4(OPERAND_B, VEC_B, baseB, col0 + n, kt + k, p.N, p.K);
      for (var j = 0u; j < 4u; j++) { Bs[(k + j) * N4 + n / 4u][n % 4u] = v[j]; }
    } else {
      Bs[e] = load4(OPERAND_B, VEC_B, baseB, kt + e / N4, col0 + (e % N4) * 4u, p.K, p.N);
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32,
        @builtin(workgroup_id) wid: vec3<u32>) {
  let row0 = wid.y * TILE_M;
  let col0 = wid.x * TILE_N;
  let baseA = wid.z * p.strideA;
  let baseB = wid.z * p.strideB;

  // Row lid.y·TM + i: accL[i] at columns 4·lid.x.., accR[i] at columns TILE_N / 2 + 4·lid.x..
  var accL: array<vec4<f32>, TM>;
  var accR: array<vec4<f32>, TM>;
  for (var kt = 0u; kt < p.K; kt += TILE_K) {
    stage_tiles(tid, baseA, baseB, row0, col0, kt);
    workgroupBarrier();
    for (var k4 = 0u; k4 < K4; k4++) {
      let k = k4 * 4u;
      let l0 = vec4<f32>(Bs[k * N4 + lid.x]);
      let l1 = vec4<f32>(Bs[(k + 1u) * N4 + lid.x]);
      let l2 = vec4<f32>(Bs[(k + 2u) * N4 + lid.x]);
      let l3 = vec4<f32>(Bs[(k + 3u) * N4 + lid.x]);
      let r0 = vec4<f32>(Bs[k * N4 + WG_X + lid.x]);
      let r1 = vec4<f32>(Bs[(k + 1u) * N4 + WG_X + lid.x]);
      let r2 = vec4<f32>(Bs[(k + 2u) * N4 + WG_X + lid.x]);
      let r3 = vec4<f32>(Bs[(k + 3u) * N4 + WG_X + lid.x]);
      for (var i = 0u; i < TM; i++) {
        let a = vec4<f32>(As[(lid.y * TM + i) * K4 + k4]);
        accL[i] += (l0 * a.x + l1 * a.y) + (l2 * a.z + l3 * a.w);
        accR[i] += (r0 * a.x + r1 * a.y) + (r2 * a.z + r3 * a.w);
      }
    }
    workgroupBarrier();
  }

  let baseC = wid.z * p.strideC;
  for (var i = 0u; i < TM; i++) {
    let m = row0 + lid.y * TM + i;
    if (m >= p.M) { break; }
    for (var half = 0u; half < 2u; half++) {
      let n = col0 + half * (TILE_N / 2u) + lid.x * 4u;
      for (var j = 0u; j < 4u; j++) {
        if (n + j >= p.N) { break; }
        let at = baseC + m * p.N + n + j;
        var v = select(accL[i][j], accR[i][j], half == 1u);
        if (HAS_BIAS) { v += bias[n + j]; }
        if (ACCUMULATE) { v += C[at]; }
        C[at] = v;
      }
    }
  }
}
