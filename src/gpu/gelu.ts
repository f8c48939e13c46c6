import backwardSource from '../../kernels/gelu_backward.wgsl?raw';
import forwardSource from '../../kernels/gelu_forward.wgsl?raw';
import { GELU_CUBIC, SQRT_2_OVER_PI } from '../util/model-constants';
import type { Batch, BufferRef } from './batch';
import type { Gpu } from './device';
import { dispatchElementwise } from './elementwise';

/** The tanh approximation's coefficients, as every implementation of the model uses them. */
const consts = { GELU_CUBIC, SQRT_2_OVER_PI };

/** y = gelu(x) over n floats (tanh form, as GPT-2). */
export async function geluForward(
  gpu: Gpu,
  batch: Batch,
  args: { x: BufferRef; y: BufferRef; n: number },
): Promise<void> {
  await dispatchElementwise(gpu, batch, {
    name: 'gelu_forward',
    source: forwardSource,
    buffers: { x: args.x, y: args.y },
    n: args.n,
    consts,
  });
}

/** dx = dy · gelu'(x) over n floats; x is the forward pass's input. */
export async function geluBackward(
  gpu: Gpu,
  batch: Batch,
  args: { x: BufferRef; dy: BufferRef; dx: BufferRef; n: number },
): Promise<void> {
  const buffers = { x: args.x, dy: args.dy, dx: args.dx };
  await dispatchElementwise(gpu, batch, { name: 'gelu_backward', source: backwardSource, buffers, n: args.n, consts });
}
