// Row softmax in place, with an optional causal mask: x[row, col] ← softmax_col(scale · x[row, ·]).
// With CAUSAL, rows are query positions of T×T score matrices (row % T is the query),
// and columns after the query get probability 0. One workgroup per row.
// Layout: x [rows, cols]. Grid: grid1d(rows, 1). Consts: WG (power of two), CAUSAL.
// Params (rows, cols, scale) from the launcher (src/gpu/softmax.ts).

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

var<workgroup> reduce: array<f32, WG>;

fn row_reduce(tid: u32, value: f32, take_max: bool) -> f32 {
  reduce[tid] = value;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (tid < half) {
      reduce[tid] = select(reduce[tid] + reduce[tid + half], max(reduce[tid], reduce[tid + half]), take_max);
    }
    workgroupBarrier();
  }
  let result = reduce[0];
  workgroupBarrier();
  return result;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let row = wid.y * groups.x + wid.x;
  if (row >= p.rows) { return; } // uniform per workgroup
  let base = row * p.cols;
  var visible = p.cols;
  if (CAUSAL) { visible = row % p.cols + 1u; }

  var localMax = -3.4e38;
  for (var c = tid; c < visible; c += WG) { localMax = max(localMax, x[base + c] * p.scale); }
  let rowMax = row_reduce(tid, localMax, true);
  var localSum = 0.0;
  for (var c = tid; c < visible; c += WG) { localSum += exp(x[base + c] * p.scale - rowMax); }
  let rowSum = row_reduce(tid, localSum, false);
  for (var c = tid; c < p.cols; c += WG) {
    x[base + c] = select(0.0, exp(x[base + c] * p.scale - rowMax) / rowSum, c < visible);
  }
}
