// Workgroup-wide reductions through workgroup memory: the fallback for devices without subgroups,
// with the same API as reduce_subgroup.wgsl. The including kernel declares THREADS (its workgroup
// size, a power of two) and `alias reduce_t` (f32 or a vector of f32), and calls these in uniform
// control flow, every thread with its own value; every thread gets the result.
// A tree: log2(THREADS) + 2 barriers, and THREADS − 1 additions spread over the threads.

// The lowest finite f32: the identity of max (exp(LOWEST − LOWEST) stays finite, unlike −∞'s).
const REDUCE_LOWEST = -3.4028234663852886e38;

var<workgroup> reduce_slots: array<reduce_t, THREADS>;
var<workgroup> reduce_max_slots: array<f32, THREADS>;

fn workgroup_sum(tid: u32, v: reduce_t) -> reduce_t {
  reduce_slots[tid] = v;
  workgroupBarrier();
  for (var half = THREADS / 2u; half > 0u; half /= 2u) {
    if (tid < half) { reduce_slots[tid] += reduce_slots[tid + half]; }
    workgroupBarrier();
  }
  let total = reduce_slots[0];
  workgroupBarrier(); // all have read the result before the slots are reused
  return total;
}

fn workgroup_max(tid: u32, v: f32) -> f32 {
  reduce_max_slots[tid] = v;
  workgroupBarrier();
  for (var half = THREADS / 2u; half > 0u; half /= 2u) {
    if (tid < half) { reduce_max_slots[tid] = max(reduce_max_slots[tid], reduce_max_slots[tid + half]); }
    workgroupBarrier();
  }
  let best = reduce_max_slots[0];
  workgroupBarrier();
  return best;
}
