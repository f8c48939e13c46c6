// Deterministic sum of a long f32 vector, one stage of a two-stage reduction:
//   output[g] = finish(Σ f(input[i]) for i in workgroup g's chunk)
// where f squares the input when SQUARE, and finish(s) = scale·s, then √ when SQRT.
// Stage 1 runs many workgroups that write one partial each; stage 2 runs one workgroup
// over the partials. A short input needs only one workgroup doing both at once.
// No atomics: every sum is taken in a fixed order, so results repeat bit for bit.
//
// Consts from the launcher (src/gpu/norm.ts): THREADS (power of two), SQUARE, SQRT; it also picks
// the reduction variant behind workgroup_reduce.wgsl (subgroups, or workgroup memory).
// Params, declared there: n, chunk (elements per workgroup), scale.
// Grid: grid1d over the chunks; the flat workgroup index is the chunk.

#include "workgroup_reduce.wgsl"
alias reduce_t = f32;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(THREADS, 1, 1)
fn main(
  @builtin(local_invocation_index) tid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let chunk = wid.y * groups.x + wid.x;
  let start = chunk * p.chunk;
  if (start >= p.n) { return; } // a spare workgroup of the folded grid
  let end = min(start + p.chunk, p.n);

  // Consecutive threads read consecutive elements (coalesced).
  var sum = 0.0;
  for (var i = start + tid; i < end; i += THREADS) {
    let x = input[i];
    if (SQUARE) { sum += x * x; } else { sum += x; }
  }
  let total = workgroup_sum(tid, sum);
  if (tid == 0u) {
    var result = total * p.scale;
    if (SQRT) { result = sqrt(result); }
    output[chunk] = result;
  }
}
