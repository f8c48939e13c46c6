import backwardSource from '../../kernels/layernorm_backward.wgsl?raw';
import forwardSource from '../../kernels/layernorm_forward.wgsl?raw';
import paramGradsSource from '../../kernels/layernorm_param_grads.wgsl?raw';
import { LAYERNORM_EPS } from '../util/model-constants';
import type { Batch, BufferRef } from './batch';
import type { Gpu } from './device';
import { grid1d } from './grid';
import { reductionIncludes } from './norm';
import { sumBlocksInto } from './sumblocks';
import { uniforms } from './uniforms';
import { requireAll, requireSizes } from './validate';

/**
 * Threads that share one row in the forward and dx kernels. On a GPU, about one per 4 channels
 * (a row's reads in flight at once), at least a warp and at most 256. On a CPU adapter 32, since
 * each invocation that meets a barrier is a context switch: SwiftShader normalised 256 rows of 768
 * in about 25 ms with 32 threads, 45 ms with 64 and 140 ms with 128.
 */
function rowThreads(gpu: Gpu, C: number): number {
  if (gpu.variants.shapes === 'cpu') return 32;
  return Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(C / 4))));
}
/** dgamma/dbeta first stage: channels per workgroup, and rows each thread sums into one partial. */
const CHANNEL_THREADS = 64;
const ROWS_PER_BLOCK = 32;

/** The forward and dx kernels: x is [rows, C]. */
const ROW_PARAMS = uniforms({ rows: 'u32', C: 'u32' });
/** The dgamma/dbeta first stage, which writes `blocks` partial sums per channel. */
const PARTIAL_PARAMS = uniforms({ rows: 'u32', C: 'u32', blocks: 'u32' });

export interface LayernormForwardArgs {
  /** [rows, C] */
  x: BufferRef;
  /** [C] */
  gamma: BufferRef;
  beta: BufferRef;
  /** [rows, C] */
  y: BufferRef;
  /** [rows]: written for the backward pass. */
  mean: BufferRef;
  rstd: BufferRef;
  rows: number;
  C: number;
}

export interface LayernormBackwardArgs {
  /** ∂L/∂y [rows, C] */
  dy: BufferRef;
  /** The forward pass's x [rows, C], mean and rstd [rows], gamma [C]. */
  x: BufferRef;
  mean: BufferRef;
  rstd: BufferRef;
  gamma: BufferRef;
  /** [rows, C]: overwritten, or added into with accumulateDx. */
  dx: BufferRef;
  /** [C]: always added into (the caller zeroes parameter gradients once per step). */
  dgamma: BufferRef;
  dbeta: BufferRef;
  rows: number;
  C: number;
  /** dx += instead of dx = (the residual stream's gradient accumulates over branches). */
  accumulateDx?: boolean;
}

/** Checks rows and C and returns the shape that error messages quote. */
function checkShape(kernel: string, rows: number, C: number): string {
  requireSizes(kernel, { rows, C });
  return `rows=${rows} C=${C}`;
}

/** Records y = LayerNorm(x)·gamma + beta over each row, saving mean and rstd. */
export async function layernormForward(gpu: Gpu, batch: Batch, args: LayernormForwardArgs): Promise<void> {
  const { x, gamma, beta, y, mean, rstd, rows, C } = args;
  const shape = checkShape('layernorm_forward', rows, C);
  requireAll('layernorm_forward', { x, y }, rows * C, shape);
  requireAll('layernorm_forward', { mean, rstd }, rows, shape);
  requireAll('layernorm_forward', { gamma, beta }, C, shape);
  const spec = {
    name: 'layernorm_forward',
    source: forwardSource,
    includes: reductionIncludes(gpu),
    consts: { THREADS: rowThreads(gpu, C), EPS: LAYERNORM_EPS },
    uniforms: ROW_PARAMS,
  };
  const pipeline = await gpu.pipelines.get(spec);
  batch.dispatch({
    kernel: spec.name,
    pipeline,
    buffers: [x, gamma, beta, y, mean, rstd],
    params: ROW_PARAMS.pack({ rows, C }),
    workgroups: grid1d(rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

/** Records the LayerNorm backward: dx (= or +=), and dgamma += Σ dy·x̂, dbeta += Σ dy over rows. */
export async function layernormBackward(gpu: Gpu, batch: Batch, args: LayernormBackwardArgs): Promise<void> {
  const { dy, x, mean, rstd, gamma, dx, dgamma, dbeta, rows, C } = args;
  const shape = checkShape('layernorm_backward', rows, C);
  requireAll('layernorm_backward', { dy, x, dx }, rows * C, shape);
  requireAll('layernorm_backward', { mean, rstd }, rows, shape);
  requireAll('layernorm_backward', { gamma, dgamma, dbeta }, C, shape);
  const dxSpec = {
    name: 'layernorm_backward',
    source: backwardSource,
    includes: reductionIncludes(gpu),
    consts: { THREADS: rowThreads(gpu, C), ACCUMULATE: args.accumulateDx ?? false },
    uniforms: ROW_PARAMS,
  };
  batch.dispatch({
    kernel: dxSpec.name,
    pipeline: await gpu.pipelines.get(dxSpec),
    buffers: [dy, x, mean, rstd, gamma, dx],
    params: ROW_PARAMS.pack({ rows, C }),
    workgroups: grid1d(rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension),
  });

  const blocks = Math.ceil(rows / ROWS_PER_BLOCK);
  const partials = batch.scratch(2 * blocks * C * 4, 'layernorm-partials');
  const partialSpec = {
    name: 'layernorm_param_grads',
    source: paramGradsSource,
    consts: { THREADS: CHANNEL_THREADS, ROWS_PER_BLOCK },
    uniforms: PARTIAL_PARAMS,
  };
  batch.dispatch({
    kernel: partialSpec.name,
    pipeline: await gpu.pipelines.get(partialSpec),
    buffers: [dy, x, mean, rstd, partials],
    params: PARTIAL_PARAMS.pack({ rows, C, blocks }),
    workgroups: [Math.ceil(C / CHANNEL_THREADS), blocks, 1],
  });
  await sumBlocksInto(gpu, batch, { src: partials, dst: dgamma, n: C, blocks });
  await sumBlocksInto(gpu, batch, { src: partials, dst: dbeta, n: C, blocks, offset: blocks * C });
}
