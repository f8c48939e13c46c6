// Matrix multiply for thin outputs (few rows or few columns, e.g. one token's logits):
// each workgroup computes COLS outputs of one row, its threads splitting K and
// reducing in workgroup memory. Same operands, layouts and bindings as matmul.wgsl, read one value
// at a time (A and B are `low_t`: f16 on the f16 path), summed in f32.
//
// Consts from the launcher: THREADS (power of two), COLS, TRANS_A, TRANS_B, HAS_BIAS, ACCUMULATE.
// Params: those of matmul.wgsl. Grid: (ceil(N / COLS), M, batch).

@group(0) @binding(0) var<storage, read> A: array<low_t>;
@group(0) @binding(1) var<storage, read> B: array<low_t>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> partial: array<f32, THREADS * COLS>;

@compute @workgroup_size(THREADS, 1, 1)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let m = wid.y;
  let n0 = wid.x * COLS;
  let baseA = wid.z * p.strideA;
  let baseB = wid.z * p.strideB;

  var acc: array<f32, COLS>;
  for (var k = tid; k < p.K; k += THREADS) {
    var a: f32;
    if (TRANS_A) { a = f32(A[baseA + k * p.M + m]); } else { a = f32(A[baseA + m * p.K + k]); }
    for (var c = 0u; c < COLS; c++) {
      let n = n0 + c;
      if (n < p.N) {
        if (TRANS_B) { acc[c] += a * f32(B[baseB + n * p.K + k]); } else { acc[c] += a * f32(B[baseB + k * p.N + n]); }
      }
    }
  }
  for (var c = 0u; c < COLS; c++) { partial[c * THREADS + tid] = acc[c]; }
  workgroupBarrier();
  for (var half = THREADS / 2u; half > 0u; half /= 2u) {
    if (tid < half) {
      for (var c = 0u; c < COLS; c++) { partial[c * THREADS + tid] += partial[c * THREADS + tid + half]; }
    }
    workgroupBarrier();
  }
  if (tid < COLS && n0 + tid < p.N) {
    let n = n0 + tid;
    let at = wid.z * p.strideC + m * p.N + n;
    var v = partial[tid * THREADS];
    if (HAS_BIAS) { v += bias[n]; }
    if (ACCUMULATE) { v += C[at]; }
    C[at] = v;
  }
}
