import backwardSource from '../../kernels/embedding_backward.wgsl?raw';
import forwardSource from '../../kernels/embedding_forward.wgsl?raw';
import type { Batch, BufferRef } from './batch';
import type { Gpu } from './device';
import { GpuError } from './errors';
import { grid1d } from './grid';
import { sumBlocksInto } from './sumblocks';
import { uniforms } from './uniforms';
import { requireElements, requireSizes } from './validate';

const THREADS = 256;
/** The forward writes n = B·T·C outputs of T positions and C channels. */
const FORWARD_PARAMS = uniforms({ n: 'u32', T: 'u32', C: 'u32' });
/** The backward sums the rows of U distinct tokens over C channels. */
const BACKWARD_PARAMS = uniforms({ U: 'u32', C: 'u32' });

/** B sequences of T tokens; C channels; V vocabulary entries; maxT rows of wpe (T ≤ maxT). */
export interface EmbeddingShape {
  B: number;
  T: number;
  C: number;
  V: number;
  maxT: number;
}

export interface EmbeddingForwardArgs extends EmbeddingShape {
  /** [B·T] u32 token ids, each < V (not checked here: see embeddingBackward). */
  tokens: BufferRef;
  /** [V, C] */
  wte: BufferRef;
  /** [maxT, C] */
  wpe: BufferRef;
  /** [B·T, C] */
  out: BufferRef;
}

export interface EmbeddingBackwardArgs extends EmbeddingShape {
  /** The batch's token ids [B·T] on the CPU: the gradient's row lists are built from them, and each is checked < V. */
  tokens: Uint32Array;
  /** ∂L/∂out [B·T, C] */
  dout: BufferRef;
  /** [V, C] and [maxT, C]: added into (the caller zeroes parameter gradients once per step). */
  dwte: BufferRef;
  dwpe: BufferRef;
}

/** Checks the sizes and returns the shape that error messages quote. */
function checkShape(kernel: string, { B, T, C, V, maxT }: EmbeddingShape): string {
  requireSizes(kernel, { B, T, C, V, maxT });
  if (T > maxT) throw new GpuError(kernel, `T=${T} exceeds the ${maxT} positions of wpe`);
  return `B=${B} T=${T} C=${C} V=${V} maxT=${maxT}`;
}

/** Records out = wte[tokens] + wpe[position]. */
export async function embeddingForward(gpu: Gpu, batch: Batch, args: EmbeddingForwardArgs): Promise<void> {
  const { tokens, wte, wpe, out, B, T, C } = args;
  const kernel = 'embedding_forward';
  const shape = checkShape(kernel, args);
  requireElements(kernel, 'tokens', tokens, B * T, shape);
  requireElements(kernel, 'out', out, B * T * C, shape);
  requireElements(kernel, 'wte', wte, args.V * C, shape);
  requireElements(kernel, 'wpe', wpe, args.maxT * C, shape);
  const spec = { name: kernel, source: forwardSource, consts: { THREADS }, uniforms: FORWARD_PARAMS };
  const pipeline = await gpu.pipelines.get(spec);
  batch.dispatch({
    kernel: spec.name,
    pipeline,
    buffers: [tokens, wte, wpe, out],
    params: FORWARD_PARAMS.pack({ n: B * T * C, T, C }),
    workgroups: grid1d(B * T * C, THREADS, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

/**
 * The rows of the batch that hold each distinct token, as the backward kernel reads them:
 * [token ids: U | starts: U + 1 | row lists: B·T], rows ascending within each list.
 */
function tokenRowIndex(tokens: Uint32Array, V: number): { index: Uint32Array; distinct: number } {
  const counts = new Uint32Array(V);
  tokens.forEach((token, row) => {
    if (token >= V)
      throw new GpuError(
        'embedding_backward',
        `token id ${token} at position ${row} is not below the vocabulary size ${V}`,
      );
    counts[token]!++;
  });
  const ids = [...counts.keys()].filter((token) => counts[token]! > 0);
  const U = ids.length;
  const index = new Uint32Array(2 * U + 1 + tokens.length);
  const next = new Uint32Array(V); // where each token's next row goes in its list
  let start = 0;
  ids.forEach((token, u) => {
    index[u] = token;
    index[U + u] = start;
    next[token] = start;
    start += counts[token]!;
  });
  index[2 * U] = start;
  const lists = 2 * U + 1;
  tokens.forEach((token, row) => {
    index[lists + next[token]!++] = row;
  });
  return { index, distinct: U };
}

/** Records dwte += Σ over each token's rows of dout, and dwpe += Σ over the batch of dout. Deterministic, no atomics. */
export async function embeddingBackward(gpu: Gpu, batch: Batch, args: EmbeddingBackwardArgs): Promise<void> {
  const { tokens, dout, dwte, dwpe, B, T, C, V } = args;
  const kernel = 'embedding_backward';
  const shape = checkShape(kernel, args);
  if (tokens.length !== B * T) throw new GpuError(kernel, `tokens has ${tokens.length} ids, expected B·T = ${B * T}`);
  requireElements(kernel, 'dout', dout, B * T * C, shape);
  requireElements(kernel, 'dwte', dwte, V * C, shape);
  requireElements(kernel, 'dwpe', dwpe, args.maxT * C, shape);
  const { index, distinct } = tokenRowIndex(tokens, V);
  const spec = { name: kernel, source: backwardSource, consts: { THREADS }, uniforms: BACKWARD_PARAMS };
  const pipeline = await gpu.pipelines.get(spec);
  // Held by the batch until it is submitted; the write queues before the batch runs.
  const rowsOfTokens = batch.scratch(index.byteLength, 'embedding-token-rows');
  gpu.device.queue.writeBuffer(rowsOfTokens, 0, index.buffer as ArrayBuffer, index.byteOffset, index.byteLength);
  batch.dispatch({
    kernel: spec.name,
    pipeline,
    buffers: [dout, rowsOfTokens, dwte],
    params: BACKWARD_PARAMS.pack({ U: distinct, C }),
    workgroups: grid1d(distinct * C, THREADS, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  // dout is [B, T·C]: summing its B blocks gives the gradient of wpe's first T rows.
  await sumBlocksInto(gpu, batch, { src: dout, dst: dwpe, n: T * C, blocks: B });
}
