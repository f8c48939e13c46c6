/** One measured figure: the benchmark row format of docs/ARCHITECTURE.md. */
export interface BenchRow {
  case: string;
  impl: string;
  metric: string;
  value: number;
}

export interface BenchResult {
  adapter: Record<string, unknown>;
  rows: BenchRow[];
  /** What a reader must know to read the figures (scaled sizes, skipped peers and why). */
  notes?: string[];
}

/** Metrics where smaller is better; for these the printed ratio is peer/ours, so > 1 always means ours wins. */
export function lowerIsBetter(metric: string): boolean {
  if (/_per_s$|^reduction_/.test(metric)) return false; // rates and reductions: more is better
  return /(_ms|_s|_bytes|loss|ratio)$|^bytes_/.test(metric);
}

/**
 * The rows of one measured figure: the median (or `center`) of the per-run values as `metric`, and their
 * minimum and maximum as `metric_min` and `metric_max`.
 */
export function spreadRows(
  c: string,
  impl: string,
  metric: string,
  values: number[],
  center: (values: number[]) => number = median,
): BenchRow[] {
  if (values.length === 0) throw new Error(`${c} ${impl} ${metric}: no runs to report`);
  return [
    { case: c, impl, metric, value: center(values) },
    { case: c, impl, metric: `${metric}_min`, value: Math.min(...values) },
    { case: c, impl, metric: `${metric}_max`, value: Math.max(...values) },
  ];
}

/** Mean of a non-empty list. */
export function mean(values: number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}

/** Median of a non-empty list. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A table with one line per (case, metric), a column per impl, and ours-vs-peer speedups. */
export function formatTable(rows: BenchRow[]): string {
  const impls = [...new Set(rows.map((r) => r.impl))];
  // Ratio columns only when one implementation is ours (the Byzantine benchmark compares rules).
  const peers = impls.includes('ours') ? impls.filter((i) => i !== 'ours') : [];
  // A metric's _min and _max print in its own cell, as "median [min–max]".
  const spread = /_(min|max)$/;
  const keys = [...new Set(rows.filter((r) => !spread.test(r.metric)).map((r) => `${r.case}\u0000${r.metric}`))];
  const header = ['case', 'metric', ...impls, ...peers.map((p) => `ours vs ${p}`)];
  const lines = keys.map((key) => {
    const [c, metric] = key.split('\u0000') as [string, string];
    const value = (impl: string, m = metric) =>
      rows.find((r) => r.case === c && r.metric === m && r.impl === impl)?.value;
    const ours = value('ours');
    const ratios = peers.map((p) => {
      const peer = value(p);
      if (ours === undefined || peer === undefined || ours === 0 || peer === 0) return '-';
      return `${(lowerIsBetter(metric) ? peer / ours : ours / peer).toFixed(2)}x`;
    });
    const cell = (impl: string) => {
      const [lo, hi] = [value(impl, `${metric}_min`), value(impl, `${metric}_max`)];
      return lo === undefined || hi === undefined
        ? format(value(impl))
        : `${format(value(impl))} [${format(lo)}–${format(hi)}]`;
    };
    return [c, metric, ...impls.map(cell), ...ratios];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  return [row(header), row(widths.map((w) => '-'.repeat(w))), ...lines.map(row)].join('\n');
}

function format(v: number | undefined): string {
  if (v === undefined) return '-';
  if (Math.abs(v) >= 1e5) return v.toExponential(3);
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}
