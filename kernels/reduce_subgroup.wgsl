// Workgroup-wide reductions with subgroup operations (the `subgroups` feature); reduce_workgroup.wgsl
// is the same API through workgroup memory alone. The including kernel declares THREADS (its
// workgroup size) and `alias reduce_t` (f32 or a vector of f32), and calls these in uniform control
// flow, every thread with its own value; every thread gets the result.
//
// Nothing here assumes how invocations map to subgroups (WGSL leaves that open) or a subgroup size:
// each subgroup's total lands in the slot of the one invocation subgroupElect() picks, every other
// slot holds the identity; then the subgroup that holds invocation 0 adds up all the slots, its
// active invocations striding over them by their rank, and broadcasts the total through workgroup
// memory. Two barriers, and THREADS / (subgroup size) loads for each invocation of one subgroup.
// (Every subgroup adding up all the slots itself saves the broadcast, but a CPU adapter does all
// those loads in turn: cross-entropy ran about twice as slow that way on lavapipe.)

enable subgroups;
// The one branch below is taken by whole subgroups (its condition is a subgroupAny), which WGSL's
// uniformity analysis cannot see.
diagnostic(off, subgroup_uniformity);

// The lowest finite f32: the identity of max (exp(LOWEST − LOWEST) stays finite, unlike −∞'s).
const REDUCE_LOWEST = -3.4028234663852886e38;

var<workgroup> reduce_slots: array<reduce_t, THREADS>;
var<workgroup> reduce_total: reduce_t;
var<workgroup> reduce_max_slots: array<f32, THREADS>;
var<workgroup> reduce_max_total: f32;

fn workgroup_sum(tid: u32, v: reduce_t) -> reduce_t {
  reduce_slots[tid] = select(reduce_t(), subgroupAdd(v), subgroupElect());
  workgroupBarrier();
  if (subgroupAny(tid == 0u)) { // the subgroup of invocation 0 adds up the slots
    let lanes = subgroupAdd(1u);
    var total = reduce_t();
    for (var k = subgroupExclusiveAdd(1u); k < THREADS; k += lanes) { total += reduce_slots[k]; }
    total = subgroupAdd(total);
    if (tid == 0u) { reduce_total = total; }
  }
  workgroupBarrier();
  return reduce_total;
}

fn workgroup_max(tid: u32, v: f32) -> f32 {
  reduce_max_slots[tid] = select(REDUCE_LOWEST, subgroupMax(v), subgroupElect());
  workgroupBarrier();
  if (subgroupAny(tid == 0u)) {
    let lanes = subgroupAdd(1u);
    var best = REDUCE_LOWEST;
    for (var k = subgroupExclusiveAdd(1u); k < THREADS; k += lanes) { best = max(best, reduce_max_slots[k]); }
    best = subgroupMax(best);
    if (tid == 0u) { reduce_max_total = best; }
  }
  workgroupBarrier();
  return reduce_max_total;
}
