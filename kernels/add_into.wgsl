// dst += x, one element per thread (residual gradients, accumulation).
// Consts and Params (n) from the launcher (src/gpu/elementwise.ts): THREADS. Grid: grid1d(n, THREADS).

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * groups.x + wid.x) * THREADS + lid;
  if (i >= p.n) { return; }
  dst[i] += x[i];
}
