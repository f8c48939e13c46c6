// Matmul tiles are measured once per adapter and model shape, on the products a training step runs,
// and kept: the first init tunes them, stores the winner, and every later init (a reload, the next
// round, a restarted Node volunteer) reuses it.
import {
  adapterKey,
  type Gpu,
  type MatmulShape,
  type MatmulTiles,
  type TunedTiles,
  tilesFit,
  tuneMatmul,
  useMatmulTiles,
} from '../gpu';
import type { GptConfig } from '../model';
import type { ProgressStore } from '../storage';

export interface MatmulTileChoice {
  tiles: MatmulTiles;
  /** Workgroups the adapter runs at once: products with fewer take small tiles. */
  parallelism: number;
  source: 'tuned' | 'kept';
}

/** The run's shape as the trainer gets it: the model and B sequences of T tokens a step. */
export interface StepShape {
  config: GptConfig;
  batchSize: number;
  context: number;
}

/**
 * Every matmul of one training step of the GPU model (src/model/gpu-gpt.ts), with how many times a
 * step runs it. Each linear layer [in → out] over the B·T rows runs y = x·W, dW += xᵀ·dy and
 * dx = dy·Wᵀ, once a layer; the tied head runs logits = x·wteᵀ, dx = dlogits·wte and
 * dwte += dlogitsᵀ·x once.
 */
export function stepMatmuls({ config, batchSize, context }: StepShape): MatmulShape[] {
  const rows = batchSize * context;
  const { width: C, vocab: V, layers } = config;
  const linear = (inN: number, outN: number): MatmulShape[] => [
    { M: rows, K: inN, N: outN, count: layers },
    { M: inN, K: rows, N: outN, transA: true, count: layers },
    { M: rows, K: outN, N: inN, transB: true, count: layers },
  ];
  return [
    ...linear(C, 3 * C), // attention's qkv projection
    ...linear(C, C), // attention's output projection
    ...linear(C, 4 * C), // the MLP's expansion
    ...linear(4 * C, C), // the MLP's projection back
    { M: rows, K: C, N: V, transB: true },
    { M: rows, K: V, N: C },
    { M: V, K: rows, N: C, transA: true },
  ];
}

/**
 * Progress record holding the tuned tiles of one adapter for one step shape. The version changes
 * when the kernel does, so that tiles measured on an older kernel are measured again.
 */
export const tilesKey = (gpu: Gpu, { config, batchSize, context }: StepShape) =>
  `matmul-tiles/v2:${adapterKey(gpu.adapter)}:${batchSize}x${context}:${config.layers}x${config.width}x${config.vocab}`;

/** Installs the tiles kept for this adapter and step shape, or tunes, keeps and installs them. */
export async function installMatmulTiles(gpu: Gpu, store: ProgressStore, shape: StepShape): Promise<MatmulTileChoice> {
  const key = tilesKey(gpu, shape);
  const kept = await store.getProgress<TunedTiles>(key);
  // A damaged or foreign record is measured again, never trusted.
  if (kept?.tiles && tilesFit(gpu, kept.tiles) && Number.isInteger(kept.parallelism) && kept.parallelism > 0) {
    useMatmulTiles(gpu, kept.tiles, kept.parallelism);
    return { tiles: kept.tiles, parallelism: kept.parallelism, source: 'kept' };
  }
  const { record } = await tuneMatmul(gpu, { shapes: stepMatmuls(shape) });
  await store.setProgress(key, record);
  return { tiles: record.tiles, parallelism: record.parallelism, source: 'tuned' };
}
