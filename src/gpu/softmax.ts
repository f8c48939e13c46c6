import backwardSource from '../../kernels/softmax_backward.wgsl?raw';
import forwardSource from '../../kernels/softmax_forward.wgsl?raw';
import type { Batch, BufferRef } from './batch';
import type { Gpu } from './device';
import { grid1d } from './grid';
import { uniforms } from './uniforms';
import { requireAll, requireSizes } from './validate';

const THREADS = 64;
const PARAMS = uniforms({ rows: 'u32', cols: 'u32', scale: 'f32' });

export interface SoftmaxArgs {
  rows: number;
  cols: number;
  /** Multiplies the input before the softmax (1/√D for attention scores). */
  scale?: number;
  /** Rows are query positions of T×T score matrices (cols = T): mask the keys after each query. */
  causal?: boolean;
}

function params(args: SoftmaxArgs): ArrayBuffer {
  return PARAMS.pack({ rows: args.rows, cols: args.cols, scale: args.scale ?? 1 });
}

function check(kernel: string, args: SoftmaxArgs, buffers: Record<string, BufferRef>): void {
  requireSizes(kernel, { rows: args.rows, cols: args.cols });
  requireAll(kernel, buffers, args.rows * args.cols, `${args.rows}×${args.cols}`);
}

/** Row softmax of x in place (the unfused attention path materialises its T×T scores this way). */
export async function softmaxForward(gpu: Gpu, batch: Batch, args: SoftmaxArgs & { x: BufferRef }): Promise<void> {
  check('softmax_forward', args, { x: args.x });
  const pipeline = await gpu.pipelines.get({
    name: 'softmax_forward',
    source: forwardSource,
    consts: { WG: THREADS, CAUSAL: args.causal ?? false },
    uniforms: PARAMS,
  });
  batch.dispatch({
    kernel: 'softmax_forward',
    pipeline,
    buffers: [args.x],
    params: params(args),
    workgroups: grid1d(args.rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

/** grad ← scale · probs ∘ (grad − rowsum(probs ∘ grad)), in place: from dP to the gradient of the scores. */
export async function softmaxBackward(
  gpu: Gpu,
  batch: Batch,
  args: SoftmaxArgs & { probs: BufferRef; grad: BufferRef },
): Promise<void> {
  check('softmax_backward', args, { probs: args.probs, grad: args.grad });
  const pipeline = await gpu.pipelines.get({
    name: 'softmax_backward',
    source: backwardSource,
    consts: { WG: THREADS },
    uniforms: PARAMS,
  });
  batch.dispatch({
    kernel: 'softmax_backward',
    pipeline,
    buffers: [args.probs, args.grad],
    params: params(args),
    workgroups: grid1d(args.rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}
