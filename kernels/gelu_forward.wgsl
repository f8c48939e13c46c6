// GELU, tanh form as GPT-2:  y = 0.5·x·(1 + tanh(u)),  u = √(2/π)·(x + 0.044715·x³).
// One element per thread. Consts from the launcher (src/gpu/gelu.ts): THREADS. Grid: grid1d(n, THREADS).

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const SQRT_2_OVER_PI = 0.7978845608028654;
const CUBIC = 0.044715;
// tanh is ±1 in f32 beyond this; the clamp keeps backends that build tanh from exp() off inf/inf = NaN.
const TANH_LIMIT = 10.0;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * groups.x + wid.x) * THREADS + lid;
  if (i >= p.n) { return; }
  let v = x[i];
  let u = clamp(SQRT_2_OVER_PI * (v + CUBIC * v * v * v), -TANH_LIMIT, TANH_LIMIT);
  y[i] = 0.5 * v * (1.0 + tanh(u));
}
