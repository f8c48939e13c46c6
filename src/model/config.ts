/** A GPT-2-style model's shape. */
export interface GptConfig {
  /** Token vocabulary size. */
  vocab: number;
  /** Longest sequence the position table covers. */
  context: number;
  layers: number;
  heads: number;
  /** Residual stream width C; heads must divide it. */
  width: number;
}

/** Longest context a config may ask for: the position table and attention's T are sized from it. */
export const MAX_CONTEXT = 4096;

/**
 * Throws a clear error for a config that is not a GPT shape. What our kernels can run is a
 * separate question: checkKernelLimits (src/model/gpu-fit.ts).
 */
export function validateConfig(c: GptConfig): void {
  for (const key of ['vocab', 'context', 'layers', 'heads', 'width'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1)
      throw new Error(`GPT config: ${key} must be a positive integer, got ${c[key]}`);
  }
  if (c.width % c.heads !== 0) throw new Error(`GPT config: heads (${c.heads}) must divide width (${c.width})`);
  if (c.context > MAX_CONTEXT) throw new Error(`GPT config: context ${c.context} exceeds the limit ${MAX_CONTEXT}`);
}
