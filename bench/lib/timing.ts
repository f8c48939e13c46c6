// How every implementation is timed: warm-up runs first, then timed runs taken in turns (run 1 of
// each implementation, then run 2 of each, ...), so that a drift in the machine's load hits all of
// them alike. Every figure keeps its spread.

/** Warm-up runs (untimed) and timed runs, for each implementation. */
export interface TimingPlan {
  warmup: number;
  runs: number;
}

/** The timed runs of one implementation, in milliseconds, in the order they ran. */
export type RunTimes = number[];

/**
 * Times each implementation's `once` (which must resolve when the GPU queue has finished its work),
 * interleaved run by run; returns every timed run's milliseconds per implementation.
 */
export async function interleavedMs<K extends string>(
  impls: Record<K, () => Promise<void>>,
  plan: TimingPlan,
): Promise<Record<K, RunTimes>> {
  const names = Object.keys(impls) as K[];
  for (const name of names) for (let i = 0; i < plan.warmup; i++) await impls[name]();
  const times = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, RunTimes>;
  for (let run = 0; run < plan.runs; run++) {
    for (const name of names) {
      const t0 = performance.now();
      await impls[name]();
      times[name].push(performance.now() - t0);
    }
  }
  return times;
}

/** True on a CPU-emulated adapter (SwiftShader, llvmpipe), where benchmarks run scaled-down sizes. */
export function isSoftwareAdapter(info: {
  description?: string;
  architecture?: string;
  vendor?: string;
  isFallbackAdapter?: boolean;
}): boolean {
  const text = `${info.vendor} ${info.architecture} ${info.description}`.toLowerCase();
  return info.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|software/.test(text);
}
