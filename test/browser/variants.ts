// Node side of the kernel-variant tests: which variants a kernel test runs on the adapter at hand.
import type { KernelVariants } from '../../src/gpu';
import { type GpuPage, inPage, test } from '../harness/page';

/** Every combination of kernel variants (src/gpu/device.ts): a kernel test runs them all on one adapter. */
export const ALL_VARIANTS: KernelVariants[] = (['subgroup', 'workgroup'] as const).flatMap((reductions) =>
  (['cpu', 'gpu'] as const).map((shapes) => ({ reductions, shapes })),
);

export const variantName = (v: KernelVariants) => `${v.reductions} reductions, ${v.shapes} shapes`;

/**
 * The variants the page's adapter can run: all of them, or without `subgroups` the workgroup-memory
 * reductions alone, which the running test then records as an annotation.
 */
export async function runnableVariants(page: GpuPage): Promise<KernelVariants[]> {
  const has = await inPage<{ subgroups: boolean }>(page, '/test/browser/run-kernels.ts', 'deviceHas');
  if (has.subgroups) return ALL_VARIANTS;
  test.info().annotations.push({
    type: 'fallback only',
    description: 'this adapter has no `subgroups` feature: only the workgroup-memory reductions ran',
  });
  return ALL_VARIANTS.filter((v) => v.reductions === 'workgroup');
}
