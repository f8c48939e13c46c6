// LayerNorm backward for dx, one workgroup per row. With x̂ = (x − mean)·rstd and g = dy·gamma:
//   dx = rstd · (g − mean(g) − x̂ · mean(g·x̂))      (means over the row's C channels)
// dgamma and dbeta are reductions over rows: see layernorm_param_grads.wgsl.
//
// Consts and Params (rows, C) from the launcher (src/gpu/layernorm.ts): THREADS (a power of two),
// ACCUMULATE (dx += instead of =, for the residual stream whose gradient sums several branches). The
// launcher picks the reduction variant behind workgroup_reduce.wgsl (subgroups, or workgroup memory).
// Grid: one workgroup per row, folded into x·y by grid1d.

#include "workgroup_reduce.wgsl"
alias reduce_t = vec2<f32>;

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> saved_mean: array<f32>;
@group(0) @binding(3) var<storage, read> saved_rstd: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let row = wid.y * groups.x + wid.x;
  if (row >= p.rows) { return; } // the same for the whole workgroup, so barriers stay uniform
  let base = row * p.C;
  let mean = saved_mean[row];
  let rstd = saved_rstd[row];

  // (Σg, Σg·x̂) in one pass.
  var sums = vec2<f32>(0.0);
  for (var c = tid; c < p.C; c += THREADS) {
    let g = dy[base + c] * gamma[c];
    sums += vec2<f32>(g, g * (x[base + c] - mean) * rstd);
  }
  let means = workgroup_sum(tid, sums) / f32(p.C);

  for (var c = tid; c < p.C; c += THREADS) {
    let g = dy[base + c] * gamma[c];
    let xhat = (x[base + c] - mean) * rstd;
    var v = rstd * (g - means.x - xhat * means.y);
    if (ACCUMULATE) { v += dx[base + c]; }
    dx[base + c] = v;
  }
}
