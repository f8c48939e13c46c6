/**
 * Workgroup counts that cover `items` with `perGroup` items per workgroup without
 * exceeding the per-dimension limit (65535 on most adapters): a long 1-D range is
 * folded into x·y. Kernels recover the flat index as
 * `(wid.y * num_workgroups.x + wid.x) * WG + lid.x` and skip indices ≥ their length.
 */
export function grid1d(items: number, perGroup: number, maxPerDimension: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(items / perGroup));
  if (groups <= maxPerDimension) return [groups, 1, 1];
  const y = Math.ceil(groups / maxPerDimension);
  if (y > maxPerDimension) throw new RangeError(`${items} items need more than ${maxPerDimension}² workgroups`);
  return [Math.ceil(groups / y), y, 1];
}
