// One AdamW step over the flat parameter vector (PyTorch semantics), one thread per parameter:
//   g  = grads[i] · min(1, maxNorm / (‖grads‖ + 1e-6))      gradient clipping, when CLIP
//   p -= lr · weightDecay · p                               only where the segment decays
//   m  = β1·m + (1 − β1)·g
//   v  = β2·v + (1 − β2)·g²
//   p -= lr · (m / (1 − β1^t)) / (√(v / (1 − β2^t)) + eps)
// `segments` lists (start, decays) of runs of parameters sorted by start, the first at 0;
// each thread finds its run by binary search, so one dispatch updates every tensor.
//
// Consts from the launcher (src/gpu/adamw.ts): THREADS, CLIP (false: `gradNorm` is an unused placeholder).
// Params, declared there: n, segmentCount, the hyperparameters, 1 − β1, 1 − β2, and the bias
// corrections 1 − β1^t and 1 − β2^t. Grid: grid1d over the parameters.

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> segments: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read> gradNorm: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

// Whether parameter i is in a decaying run: the last run starting at or before i.
fn decays(i: u32) -> bool {
  var lo = 0u;
  var hi = p.segmentCount - 1u;
  while (lo < hi) {
    let mid = (lo + hi + 1u) / 2u;
    if (segments[mid].x <= i) { lo = mid; } else { hi = mid - 1u; }
  }
  return segments[lo].y != 0u;
}

@compute @workgroup_size(THREADS, 1, 1)
fn main(
  @builtin(local_invocation_index) tid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
) {
  let i = (wid.y * groups.x + wid.x) * THREADS + tid;
  if (i >= p.n) { return; }

  var g = grads[i];
  if (CLIP) { g *= min(1.0, p.maxNorm / (gradNorm[0] + 1e-6)); }
  var w = params[i];
  if (decays(i)) { w -= p.lr * p.weightDecay * w; }
  let mi = p.beta1 * m[i] + p.oneMinusBeta1 * g;
  let vi = p.beta2 * v[i] + p.oneMinusBeta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  w -= p.lr * (mi / p.biasCorrection1) / (sqrt(vi / p.biasCorrection2) + p.eps);
  params[i] = w;
}
