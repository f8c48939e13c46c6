import { median } from './results';

/** How every implementation is timed: warm-up runs first, then the median of `runs` timed runs. */
export interface TimingPlan {
  warmup: number;
  runs: number;
}

/** Median wall-clock milliseconds of `once`, which must resolve when the GPU queue has finished its work. */
export async function medianMs(once: () => Promise<void>, plan: TimingPlan): Promise<number> {
  for (let i = 0; i < plan.warmup; i++) await once();
  const times: number[] = [];
  for (let i = 0; i < plan.runs; i++) {
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
  }
  return median(times);
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
