// Whether our GPU kernels can run a model shape, and what training it asks of the GPU. Imports only
// the kernels' limits and the layout (no WGSL), so the seed in Node can refuse a model before any
// tab tries it, and a tab can refuse a round before it allocates anything.
import { MAX_HEAD_DIM } from '../gpu/limits';
import type { GptConfig } from './config';
import { paramLayout } from './layout';

/** Throws a clear error when our kernels cannot run a model of this (valid) shape. */
export function checkKernelLimits(config: GptConfig): void {
  const headDim = config.width / config.heads;
  if (headDim > MAX_HEAD_DIM)
    throw new Error(
      `GPT config: head dimension ${headDim} exceeds ${MAX_HEAD_DIM}, the widest head our attention kernels run`,
    );
}

/** The GPU memory training a model takes on batches of B sequences of T tokens (createGpuGpt's buffers). */
export interface TrainingGpuNeeds {
  /** The largest single buffer (it must fit one storage binding), and what it holds. */
  largestBuffer: { bytes: number; holds: 'parameters' | 'logits' | 'MLP activations' };
  /** Every buffer together: parameters, gradients, AdamW's two moments, activations, backward scratch. */
  totalBytes: number;
}

/** Bytes of a buffer of `floats` f32 values as createGpuGpt allocates it (16-byte multiples, 16 at least). */
const bufferBytes = (floats: number) => Math.max(16, Math.ceil((floats * 4) / 16) * 16);

/**
 * The buffers createGpuGpt (src/model/gpu-gpt.ts) allocates for `config` and a batch shape, counted
 * from the same list: keep the two in step. Leaves out the few small buffers of the shared pool.
 */
export function trainingGpuNeeds(config: GptConfig, shape: { B: number; T: number }): TrainingGpuNeeds {
  const P = paramLayout(config).total;
  const { width: C, heads: H, vocab: V, layers: L } = config;
  const { B, T } = shape;
  const N = B * T;
  const NC = N * C;
  const norm = [NC, N, N]; // output, mean, rstd
  // input, ln1, qkv, q, k, v, att, lse, merged, mid, ln2, fc, gelu
  const layer = [NC, ...norm, 3 * NC, NC, NC, NC, NC, B * H * T, NC, NC, ...norm, 4 * NC, 4 * NC];
  // final residual, lnf, logits, losses, mean loss, grad norm, input and target tokens
  const head = [NC, ...norm, N * V, N, 1, 1, N, N];
  // backward scratch: d.residual, d.ln, d.att.merged, d.att, dq, dk, dv, d.qkv, d.gelu, d.fc
  const scratch = [NC, NC, NC, NC, NC, NC, NC, 3 * NC, 4 * NC, 4 * NC];
  const sum = (floats: number[]) => floats.reduce((bytes, n) => bytes + bufferBytes(n), 0);
  const totalBytes = 4 * bufferBytes(P) + L * sum(layer) + sum(head) + sum(scratch);
  const candidates = [
    { bytes: 4 * P, holds: 'parameters' as const },
    { bytes: 4 * N * V, holds: 'logits' as const },
    { bytes: 4 * 4 * NC, holds: 'MLP activations' as const },
  ];
  const largestBuffer = candidates.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  return { largestBuffer, totalBytes };
}
