// Whether our GPU kernels can run a model shape. Imports only the kernels' limits (no WGSL),
// so the seed in Node can refuse a model before any tab tries it.
import { MAX_HEAD_DIM } from '../gpu/limits';
import type { GptConfig } from './config';

/** Throws a clear error when our kernels cannot run a model of this (valid) shape. */
export function checkKernelLimits(config: GptConfig): void {
  const headDim = config.width / config.heads;
  if (headDim > MAX_HEAD_DIM)
    throw new Error(
      `GPT config: head dimension ${headDim} exceeds ${MAX_HEAD_DIM}, the widest head our attention kernels run`,
    );
}
