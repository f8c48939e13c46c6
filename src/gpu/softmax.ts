import forwardSource from '../../kernels/softmax_forward.wgsl?raw';
import backwardSource from '../../kernels/softmax_backward.wgsl?raw';
import type { Batch } from './batch';
import type { Gpu } from './device';
import { GpuError } from './errors';
import { grid1d } from './grid';

const THREADS = 64;

export interface SoftmaxArgs {
  rows: number;
  cols: number;
  /** Multiplies the input before the softmax (1/√D for attention scores). */
  scale?: number;
  /** Rows are query positions of T×T score matrices (cols = T): mask the keys after each query. */
  causal?: boolean;
}

function params(args: SoftmaxArgs): ArrayBuffer {
  const data = new ArrayBuffer(16);
  new Uint32Array(data).set([args.rows, args.cols]);
  new Float32Array(data)[2] = args.scale ?? 1;
  return data;
}

function check(kernel: string, args: SoftmaxArgs, buffers: GPUBuffer[]): void {
  if (!Number.isInteger(args.rows) || !Number.isInteger(args.cols) || args.rows < 1 || args.cols < 1) {
    throw new GpuError(kernel, `rows and cols must be positive integers, got ${args.rows}×${args.cols}`);
  }
  for (const b of buffers) {
    if (b.size < args.rows * args.cols * 4) throw new GpuError(kernel, `buffer of ${b.size} bytes is smaller than ${args.rows}×${args.cols} floats`);
  }
}

/** Row softmax of x in place (the unfused attention path materialises its T×T scores this way). */
export async function softmaxForward(gpu: Gpu, batch: Batch, args: SoftmaxArgs & { x: GPUBuffer }): Promise<void> {
  check('softmax_forward', args, [args.x]);
  const pipeline = await gpu.pipelines.get({ name: 'softmax_forward', source: forwardSource, consts: { WG: THREADS, CAUSAL: args.causal ?? false } });
  batch.dispatch({ kernel: 'softmax_forward', pipeline, buffers: [args.x], params: params(args), workgroups: grid1d(args.rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension) });
}

/** grad ← scale · probs ∘ (grad − rowsum(probs ∘ grad)), in place: from dP to the gradient of the scores. */
export async function softmaxBackward(gpu: Gpu, batch: Batch, args: SoftmaxArgs & { probs: GPUBuffer; grad: GPUBuffer }): Promise<void> {
  check('softmax_backward', args, [args.probs, args.grad]);
  const pipeline = await gpu.pipelines.get({ name: 'softmax_backward', source: backwardSource, consts: { WG: THREADS } });
  batch.dispatch({ kernel: 'softmax_backward', pipeline, buffers: [args.probs, args.grad], params: params(args), workgroups: grid1d(args.rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension) });
}
