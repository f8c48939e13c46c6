// Fused softmax + cross-entropy over rows of logits [rows, V], one workgroup per row.
//   forward:  losses[r] = −log softmax(logits[r])[target[r]] = (max − x_t) + log Σ exp(x − max)
//   backward: dlogits[r, j] = (softmax(logits[r])[j] − [j == target[r]]) · p.scale
// Subtracting the row max keeps exp() in range for any logit magnitude.
// A target ≥ V cannot be reported from here: its loss is NaN (so the mean loss shows it)
// and its gradient row has no one-hot term.
//
// Consts from the launcher (src/gpu/crossentropy.ts):
//   THREADS   workgroup size (power of two)
//   BACKWARD  false: write losses into `out`; true: write gradients
//   IN_PLACE  backward only: overwrite `logits` with the gradients (`out` is then an unused placeholder)
// It also picks the reduction variant behind workgroup_reduce.wgsl (subgroups, or workgroup memory).
// Params, declared there: rows, V, scale (dloss of every row), invalidLoss (NaN).
// Grid: grid1d over the rows, one workgroup each.

#include "workgroup_reduce.wgsl"
alias reduce_t = f32;

@group(0) @binding(0) var<storage, read_write> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// (row max, Σ exp(x − row max)) of the row starting at `base`, known to every thread on return.
fn rowStats(base: u32, tid: u32) -> vec2<f32> {
  // One pass per thread ("online softmax"): rescale the sum whenever the max grows. The start
  // value, the lowest finite f32, keeps exp(m − m) finite for a thread with no logits.
  var m = REDUCE_LOWEST;
  var s = 0.0;
  for (var j = tid; j < p.V; j += THREADS) {
    let x = logits[base + j];
    if (x > m) {
      s = s * exp(m - x) + 1.0;
      m = x;
    } else {
      s += exp(x - m);
    }
  }
  let rowMax = workgroup_max(tid, m);
  return vec2<f32>(rowMax, workgroup_sum(tid, s * exp(m - rowMax)));
}

@compute @workgroup_size(THREADS, 1, 1)
fn main(
  @builtin(local_invocation_index) tid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let row = wid.y * groups.x + wid.x;
  if (row >= p.rows) { return; } // a spare workgroup of the folded grid
  let base = row * p.V;
  let stats = rowStats(base, tid);
  let m = stats.x;
  let label = targets[row];

  if (!BACKWARD) {
    if (tid == 0u) {
      var loss = p.invalidLoss;
      if (label < p.V) { loss = (m - logits[base + label]) + log(stats.y); }
      out[row] = loss;
    }
    return;
  }

  let invSum = 1.0 / stats.y;
  for (var j = tid; j < p.V; j += THREADS) {
    var prob = exp(logits[base + j] - m) * invSum;
    if (j == label) { prob -= 1.0; }
    if (IN_PLACE) { logits[base + j] = prob * p.scale; } else { out[base + j] = prob * p.scale; }
  }
}
