import addSource from '../../kernels/add.wgsl?raw';
import addIntoSource from '../../kernels/add_into.wgsl?raw';
import scaleSource from '../../kernels/scale.wgsl?raw';
import type { Batch, BufferRef } from './batch';
import type { Gpu } from './device';
import { grid1d } from './grid';
import type { KernelConsts } from './pipelines';
import { uniforms } from './uniforms';
import { requireAll, requireSizes } from './validate';

/** Threads per workgroup of the one-element-per-thread kernels. */
const ELEMENTWISE_THREADS = 256;
/** The uniforms of every elementwise kernel: the length, and scale's factor (0 for the others). */
const PARAMS = uniforms({ n: 'u32', factor: 'f32' });

export interface ElementwiseLaunch {
  name: string;
  source: string;
  /** Bound at @binding(0..) in this order; each must hold n f32 values. */
  buffers: Record<string, BufferRef>;
  n: number;
  /** scale's factor. */
  factor?: number;
  /** Consts besides THREADS (GELU's coefficients). */
  consts?: KernelConsts;
}

/** Validates and records a kernel that runs one thread per element over n elements. */
export async function dispatchElementwise(gpu: Gpu, batch: Batch, launch: ElementwiseLaunch): Promise<void> {
  const { name, n } = launch;
  requireSizes(name, { n });
  requireAll(name, launch.buffers, n, `n=${n}`);
  const params = PARAMS.pack({ n, factor: launch.factor ?? 0 });
  const consts = { THREADS: ELEMENTWISE_THREADS, ...launch.consts };
  const pipeline = await gpu.pipelines.get({ name, source: launch.source, consts, uniforms: PARAMS });
  const workgroups = grid1d(n, ELEMENTWISE_THREADS, gpu.limits.maxComputeWorkgroupsPerDimension);
  batch.dispatch({ kernel: name, pipeline, buffers: Object.values(launch.buffers), params, workgroups });
}

/** out = a + b over n floats (a and b may be the same buffer, out must differ from both). */
export async function add(
  gpu: Gpu,
  batch: Batch,
  args: { a: BufferRef; b: BufferRef; out: BufferRef; n: number },
): Promise<void> {
  await dispatchElementwise(gpu, batch, {
    name: 'add',
    source: addSource,
    buffers: { a: args.a, b: args.b, out: args.out },
    n: args.n,
  });
}

/** dst += x over n floats. */
export async function addInto(
  gpu: Gpu,
  batch: Batch,
  args: { dst: BufferRef; x: BufferRef; n: number },
): Promise<void> {
  await dispatchElementwise(gpu, batch, {
    name: 'add_into',
    source: addIntoSource,
    buffers: { x: args.x, dst: args.dst },
    n: args.n,
  });
}

/** x *= factor over n floats, in place. */
export async function scale(gpu: Gpu, batch: Batch, args: { x: BufferRef; n: number; factor: number }): Promise<void> {
  await dispatchElementwise(gpu, batch, {
    name: 'scale',
    source: scaleSource,
    buffers: { x: args.x },
    n: args.n,
    factor: args.factor,
  });
}
