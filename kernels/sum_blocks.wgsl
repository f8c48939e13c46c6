// dst[i] += Σ_b src[offset + b·n + i] for i < n (= with OVERWRITE): sums `blocks` consecutive
// length-n blocks (per-block partials of a reduction; bias and position-embedding gradients summed
// over rows; the split partials of attention's backward).
// A workgroup owns COLS outputs, read coalesced along i. Its SPLIT rows of threads each sum every
// SPLIT-th block, and the first row adds up the SPLIT partials: more threads per output where n is
// short and blocks many (a GPU), one thread per output with SPLIT = 1 (a CPU adapter). Every sum is
// taken in a fixed order, so results are deterministic.
//
// Consts and Params (n, blocks, offset) from the launcher (src/gpu/sumblocks.ts): COLS, SPLIT, OVERWRITE.
// Grid: grid1d(n, COLS).

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> partials: array<f32, SPLIT * COLS>;

@compute @workgroup_size(COLS, SPLIT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.y * groups.x + wid.x) * COLS + lid.x;
  var sum = 0.0;
  if (i < p.n) {
    for (var b = lid.y; b < p.blocks; b += SPLIT) { sum += src[p.offset + b * p.n + i]; }
  }
  if (SPLIT > 1u) {
    partials[lid.y * COLS + lid.x] = sum;
    workgroupBarrier();
    for (var s = 1u; s < SPLIT; s++) { sum += partials[s * COLS + lid.x]; }
  }
  if (lid.y == 0u && i < p.n) {
    if (OVERWRITE) { dst[i] = sum; } else { dst[i] += sum; }
  }
}
