// Flash attention backward, pre-pass: delta[row] = Σ_d dO[row, d] · O[row, d]
// (equal to rowsum(P ∘ dP), the softmax-backward term both gradient kernels need).
// Layout: o, dout [rows, HEAD_DIM]; delta [rows]. One thread per row, grid from grid1d.
// Consts: HEAD_DIM, WG. Params (rows) from the launcher (src/gpu/attention.ts).

@group(0) @binding(0) var<storage, read> o: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read_write> delta: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let row = (wid.y * groups.x + wid.x) * WG + tid;
  if (row >= p.rows) { return; }
  var sum = 0.0;
  for (var d = 0u; d < HEAD_DIM; d++) { sum += dout[row * HEAD_DIM + d] * o[row * HEAD_DIM + d]; }
  delta[row] = sum;
}
