// GELU, tanh form as GPT-2:  y = 0.5·x·(1 + tanh(u)),  u = SQRT_2_OVER_PI·(x + GELU_CUBIC·x³).
// One element per thread. Consts and Params (n) from the launcher (src/gpu/gelu.ts): THREADS,
// SQRT_2_OVER_PI = √(2/π) and GELU_CUBIC (src/util/model-constants.ts). Grid: grid1d(n, THREADS).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

// tanh is ±1 in f32 beyond this; the clamp keeps backends that build tanh from exp() off inf/inf = NaN.
const TANH_LIMIT = 10.0;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * groups.x + wid.x) * THREADS + lid;
  if (i >= p.n) { return; }
  let v = x[i];
  let u = clamp(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v), -TANH_LIMIT, TANH_LIMIT);
  y[i] = 0.5 * v * (1.0 + tanh(u));
}
