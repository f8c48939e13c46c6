import source from '../../kernels/norm_reduce.wgsl?raw';
import subgroupReduceSource from '../../kernels/reduce_subgroup.wgsl?raw';
import workgroupReduceSource from '../../kernels/reduce_workgroup.wgsl?raw';
import type { Batch, BufferRef } from './batch';
import type { Gpu } from './device';
import { GpuError } from './errors';
import { grid1d } from './grid';
import type { KernelSpec } from './pipelines';
import { uniforms } from './uniforms';
import { requireElements, requireSizes } from './validate';

/**
 * What a kernel that calls workgroup_sum / workgroup_max `#include`s: the subgroup or the
 * workgroup-memory reductions, as this device's variants say (the same API, see the files).
 */
export function reductionIncludes(gpu: Gpu): Record<string, string> {
  const subgroups = gpu.variants.reductions === 'subgroup';
  return { 'workgroup_reduce.wgsl': subgroups ? subgroupReduceSource : workgroupReduceSource };
}

/**
 * Threads per workgroup, and the most partials stage 1 writes (so that one workgroup finishes them
 * in a few loads per thread). On a GPU: many workgroups of 256 threads. On a CPU adapter every
 * invocation that meets a barrier is a context switch, and 2 cores need few workgroups: few
 * workgroups of fewer threads, each summing a long chunk.
 */
const SHAPES = {
  gpu: { threads: 256, maxPartials: 256 * 16 },
  cpu: { threads: 64, maxPartials: 64 },
} as const;
/** The smallest chunk a workgroup sums: a few elements per thread before the reduction. */
const MIN_PER_THREAD = 4;

const PARAMS = uniforms({
  n: 'u32',
  /** Elements per workgroup, a multiple of THREADS. */
  chunk: 'u32',
  /** Applied by the last stage only. */
  scale: 'f32',
});

/** scale·Σ input (op 'sum') or √(scale·Σ input²) (op 'norm') into output[0]. */
interface ReduceArgs {
  input: BufferRef;
  output: BufferRef;
  n: number;
  op: 'sum' | 'norm';
  scale: number;
}

async function reduce(gpu: Gpu, batch: Batch, kernel: string, args: ReduceArgs): Promise<void> {
  const { input, output, n, op, scale } = args;
  requireSizes(kernel, { n });
  if (!Number.isFinite(scale)) throw new GpuError(kernel, `scale must be finite, got ${scale}`);
  requireElements(kernel, 'input', input, n, `n=${n}`);
  requireElements(kernel, 'output', output, 1, 'one result');

  const { threads, maxPartials } = SHAPES[gpu.variants.shapes];
  const norm = op === 'norm';
  // The first stage squares (for the norm); the last one scales and takes the root.
  const stage = async (
    from: BufferRef,
    to: BufferRef,
    count: number,
    chunk: number,
    at: { first: boolean; last: boolean },
  ) => {
    const spec: KernelSpec = {
      name: kernel,
      source,
      includes: reductionIncludes(gpu),
      consts: { THREADS: threads, SQUARE: norm && at.first, SQRT: norm && at.last },
      uniforms: PARAMS,
    };
    const params = PARAMS.pack({ n: count, chunk, scale: at.last ? scale : 1 });
    const pipeline = await gpu.pipelines.get(spec);
    const workgroups = grid1d(count, chunk, gpu.limits.maxComputeWorkgroupsPerDimension);
    batch.dispatch({ kernel, pipeline, buffers: [from, to], params, workgroups });
  };

  // Elements per stage-1 workgroup: at least a few per thread, and enough that at most maxPartials workgroups cover n.
  const chunk = Math.max(threads * MIN_PER_THREAD, Math.ceil(n / maxPartials / threads) * threads);
  if (n <= chunk) {
    await stage(input, output, n, n, { first: true, last: true });
    return;
  }
  const scratch = batch.scratch(maxPartials * 4, 'reduce-partials');
  await stage(input, scratch, n, chunk, { first: true, last: false });
  const groups = Math.ceil(n / chunk);
  await stage(scratch, output, groups, groups, { first: false, last: true });
}

/** output[0] = scale · Σ input[0..n): a deterministic GPU sum (scale = 1/n gives the mean). */
export async function reduceSum(
  gpu: Gpu,
  batch: Batch,
  args: { input: BufferRef; output: BufferRef; n: number; scale?: number },
): Promise<void> {
  await reduce(gpu, batch, 'reduce_sum', { ...args, op: 'sum', scale: args.scale ?? 1 });
}

/** norm[0] = ‖grads[0..n)‖₂, the global gradient norm for clipping, computed without leaving the GPU. */
export async function globalNorm(
  gpu: Gpu,
  batch: Batch,
  args: { grads: BufferRef; norm: BufferRef; n: number },
): Promise<void> {
  await reduce(gpu, batch, 'global_norm', { input: args.grads, output: args.norm, n: args.n, op: 'norm', scale: 1 });
}
