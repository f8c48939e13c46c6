import source from '../../kernels/sum_blocks.wgsl?raw';
import type { Batch, BufferRef } from './batch';
import type { Gpu } from './device';
import { GpuError } from './errors';
import { grid1d } from './grid';
import { uniforms } from './uniforms';
import { requireElements, requireSizes } from './validate';

/**
 * Outputs per workgroup (COLS) and threads per output (SPLIT). On a GPU, bias gradients have short
 * n and many blocks (one per row of the batch): 8 threads share each output. On a CPU adapter one
 * thread per output already keeps both cores busy, and a barrier would only cost.
 */
const SHAPES = { gpu: { COLS: 32, SPLIT: 8 }, cpu: { COLS: 256, SPLIT: 1 } } as const;
const PARAMS = uniforms({ n: 'u32', blocks: 'u32', offset: 'u32' });

export interface SumBlocksArgs {
  /** Holds `blocks` consecutive blocks of n floats, starting `offset` floats in. */
  src: BufferRef;
  /** n floats, added into (or overwritten, with `overwrite`). */
  dst: BufferRef;
  n: number;
  blocks: number;
  offset?: number;
  /** dst = the sums instead of dst += them. */
  overwrite?: boolean;
}

/**
 * dst[i] += Σ_b src[offset + b·n + i] (= with `overwrite`): sums blocks of a buffer elementwise,
 * in a fixed order (deterministic, no atomics). Column sums of a [blocks, n] matrix, e.g. a bias
 * gradient, the second stage of a reduction, or position gradients summed over the batch.
 */
export async function sumBlocksInto(gpu: Gpu, batch: Batch, args: SumBlocksArgs): Promise<void> {
  const { n, blocks } = args;
  const offset = args.offset ?? 0;
  requireSizes('sum_blocks', { n, blocks });
  if (!Number.isInteger(offset) || offset < 0)
    throw new GpuError('sum_blocks', `offset must be a non-negative integer, got ${offset}`);
  const shape = `n=${n} blocks=${blocks} offset=${offset}`;
  requireElements('sum_blocks', 'src', args.src, offset + n * blocks, shape);
  requireElements('sum_blocks', 'dst', args.dst, n, shape);
  const { COLS, SPLIT } = SHAPES[gpu.variants.shapes];
  const spec = {
    name: 'sum_blocks',
    source,
    consts: { COLS, SPLIT, OVERWRITE: args.overwrite ?? false },
    uniforms: PARAMS,
  };
  const pipeline = await gpu.pipelines.get(spec);
  batch.dispatch({
    kernel: spec.name,
    pipeline,
    buffers: [args.src, args.dst],
    params: PARAMS.pack({ n, blocks, offset }),
    workgroups: grid1d(n, COLS, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}
