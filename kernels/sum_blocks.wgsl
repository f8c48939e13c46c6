// dst[i] += Σ_b src[offset + b·n + i] for i < n: sums `blocks` consecutive length-n blocks
// (per-block partials of a reduction; position-embedding gradients summed over the batch).
// One output per thread, reading coalesced rows; the order of the sum is fixed, so results are deterministic.
//
// Consts and Params (n, blocks, offset) from the launcher (src/gpu/sumblocks.ts): THREADS. Grid: grid1d(n, THREADS).

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * groups.x + wid.x) * THREADS + lid;
  if (i >= p.n) { return; }
  var sum = 0.0;
  for (var b = 0u; b < p.blocks; b++) { sum += src[p.offset + b * p.n + i]; }
  dst[i] += sum;
}
