// Merges the key splits of attention_forward.wgsl. For each row, from the slabs' partial outputs
// o_s (each normalised by its own sum) and their lse_s:
//   M = max_s lse_s,   lse = M + log Σ_s exp(lse_s − M),   o = Σ_s exp(lse_s − lse)·o_s
// A slab whose share of keys the row never saw has lse_s = MASKED, and weighs 0. Split 0 always
// holds key 0, which every query sees, so M is real.
//
// Layout: parts [SPLITS, rows, HEAD_DIM], part_lse [SPLITS, rows]; o [rows, HEAD_DIM], lse [rows],
// rows = B·H·T. One thread per element of o; thread d = 0 of a row also writes its lse.
// Consts: HEAD_DIM, SPLITS, WG. Params (rows) from the launcher (src/gpu/attention.ts).
// Grid: grid1d(rows · HEAD_DIM, WG).

@group(0) @binding(0) var<storage, read> parts: array<f32>;
@group(0) @binding(1) var<storage, read> part_lse: array<f32>;
@group(0) @binding(2) var<storage, read_write> o: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let at = (wid.y * groups.x + wid.x) * WG + tid;
  if (at >= p.rows * HEAD_DIM) { return; }
  let row = at / HEAD_DIM;
  var top = part_lse[row];
  for (var s = 1u; s < SPLITS; s++) { top = max(top, part_lse[s * p.rows + row]); }
  var weights = 0.0;
  var sum = 0.0;
  for (var s = 0u; s < SPLITS; s++) {
    let w = exp(part_lse[s * p.rows + row] - top);
    weights += w;
    sum += w * parts[s * p.rows * HEAD_DIM + at];
  }
  o[at] = sum / weights;
  if (at % HEAD_DIM == 0u) { lse[row] = top + log(weights); }
}
