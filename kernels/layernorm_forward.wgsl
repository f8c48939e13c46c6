// LayerNorm forward, one workgroup per row of x [rows, C] (GPT-2 / PyTorch, biased variance):
//   mean = Σx / C,   rstd = 1 / √(Σ(x − mean)² / C + EPS),   y = (x − mean)·rstd·gamma + beta
// mean and rstd [rows] are saved for the backward pass. The variance is summed in a second
// pass over the row (still in cache) rather than as E[x²] − mean², which cancels badly.
//
// Consts and Params (rows, C) from the launcher (src/gpu/layernorm.ts): THREADS (a power of two),
// EPS (LAYERNORM_EPS of src/util/model-constants.ts). The launcher picks the reduction variant behind
// workgroup_reduce.wgsl (subgroups, or workgroup memory). Grid: one workgroup per row, folded into x·y by grid1d.

#include "workgroup_reduce.wgsl"
alias reduce_t = f32;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> saved_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> saved_rstd: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let row = wid.y * groups.x + wid.x;
  if (row >= p.rows) { return; } // the same for the whole workgroup, so barriers stay uniform
  let base = row * p.C;

  var sum = 0.0;
  for (var c = tid; c < p.C; c += THREADS) { sum += x[base + c]; }
  let mean = workgroup_sum(tid, sum) / f32(p.C);

  var squares = 0.0;
  for (var c = tid; c < p.C; c += THREADS) {
    let d = x[base + c] - mean;
    squares += d * d;
  }
  let rstd = inverseSqrt(workgroup_sum(tid, squares) / f32(p.C) + EPS);

  for (var c = tid; c < p.C; c += THREADS) {
    y[base + c] = (x[base + c] - mean) * rstd * gamma[c] + beta[c];
  }
  if (tid == 0u) {
    saved_mean[row] = mean;
    saved_rstd[row] = rstd;
  }
}
