// Backward of GELU (tanh form, see gelu_forward.wgsl):  dx = dy · gelu'(x),
//   gelu'(x) = 0.5·(1 + tanh u) + 0.5·x·(1 − tanh² u)·SQRT_2_OVER_PI·(1 + 3·GELU_CUBIC·x²).
// One element per thread. Consts and Params (n) from the launcher (src/gpu/gelu.ts): THREADS,
// SQRT_2_OVER_PI and GELU_CUBIC. Grid: grid1d(n, THREADS).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// tanh is ±1 in f32 beyond this; the clamp keeps backends that build tanh from exp() off inf/inf = NaN.
const TANH_LIMIT = 10.0;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * groups.x + wid.x) * THREADS + lid;
  if (i >= p.n) { return; }
  let v = x[i];
  let t = tanh(clamp(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v), -TANH_LIMIT, TANH_LIMIT));
  let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * v * v);
  dx[i] = dy[i] * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du);
}
