// Softmax backward in place: dx[row, ·] ← scale · P ∘ (dP − Σ_col P ∘ dP), the gradient
// with respect to the pre-scale input of softmax_forward (masked entries have P = 0).
// Layout: probs, grad [rows, cols]; grad holds dP on entry and dx on exit. One workgroup per row.
// Consts: WG (power of two). Params (rows, cols, scale) from the launcher (src/gpu/softmax.ts).

@group(0) @binding(0) var<storage, read> probs: array<f32>;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> reduce: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let row = wid.y * groups.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var local = 0.0;
  for (var c = tid; c < p.cols; c += WG) { local += probs[base + c] * grad[base + c]; }
  reduce[tid] = local;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (tid < half) { reduce[tid] += reduce[tid + half]; }
    workgroupBarrier();
  }
  let dot = reduce[0];
  for (var c = tid; c < p.cols; c += WG) {
    grad[base + c] = p.scale * probs[base + c] * (grad[base + c] - dot);
  }
}
