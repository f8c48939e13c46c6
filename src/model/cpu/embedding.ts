import { type Floats, zerosLike } from './floats';

export interface EmbeddingForwardCpuArgs<F extends Floats> {
  /** [B·T] token ids, each < V. */
  tokens: ArrayLike<number>;
  /** Token embeddings [V, C]. */
  wte: F;
  /** Position embeddings [maxT, C], T ≤ maxT. */
  wpe: Floats;
  B: number;
  T: number;
  C: number;
}

/** out[b, t] = wte[tokens[b, t]] + wpe[t], out is [B·T, C]. */
export function embeddingForwardCpu<F extends Floats>(args: EmbeddingForwardCpuArgs<F>): F {
  const { tokens, wte, wpe, B, T, C } = args;
  const out = zerosLike(wte, B * T * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = b * T + t;
      const token = tokens[row]!;
      for (let c = 0; c < C; c++) out[row * C + c] = wte[token * C + c]! + wpe[t * C + c]!;
    }
  }
  return out;
}

export interface EmbeddingBackwardCpuArgs<F extends Floats> {
  tokens: ArrayLike<number>;
  /** ∂L/∂out [B·T, C]. */
  dout: F;
  /** Vocabulary size and wpe rows, the shapes of the gradients returned. */
  V: number;
  maxT: number;
  B: number;
  T: number;
  C: number;
}

/**
 * Gradients of the embedding: each output row's gradient goes to its token's row of
 * dwte [V, C] and to its position's row of dwpe [maxT, C] (rows ≥ T stay zero).
 * Returns fresh gradients (the GPU launcher adds them into its buffers).
 */
export function embeddingBackwardCpu<F extends Floats>(args: EmbeddingBackwardCpuArgs<F>): { dwte: F; dwpe: F } {
  const { tokens, dout, V, maxT, B, T, C } = args;
  const dwte = zerosLike(dout, V * C);
  const dwpe = zerosLike(dout, maxT * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = b * T + t;
      const token = tokens[row]!;
      if (token >= V)
        throw new RangeError(`token id ${token} at position ${row} is not below the vocabulary size ${V}`);
      for (let c = 0; c < C; c++) {
        dwte[token * C + c]! += dout[row * C + c]!;
        dwpe[t * C + c]! += dout[row * C + c]!;
      }
    }
  }
  return { dwte, dwpe };
}
