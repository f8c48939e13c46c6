// Matmul tiles are measured once per adapter (and model shape) and kept: the first init tunes them
// on the model's own kinds of product, stores the winner, and every later init (a reload, the next
// round) reuses it.
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
import type { ProgressStore } from '../storage';

export interface MatmulTileChoice {
  tiles: MatmulTiles;
  source: 'tuned' | 'kept';
}

/**
 * The products one training step runs most, for `rows` = B·T positions of width C: the qkv
 * projection and the MLP's projection back. (Transposed variants are other pipelines: on a CPU
 * adapter each costs seconds to compile, and they share the tile's trade-offs.)
 */
export function stepShapes(rows: number, C: number): MatmulShape[] {
  return [
    { M: rows, N: 3 * C, K: C },
    { M: rows, N: C, K: 4 * C },
  ];
}

/** Progress record holding the tuned tiles of one adapter for one step shape. */
export const tilesKey = (gpu: Gpu, rows: number, C: number) => `matmul-tiles:${adapterKey(gpu.adapter)}:${rows}x${C}`;

/** Installs the tiles kept for this adapter and shape, or tunes, keeps and installs them. */
export async function installMatmulTiles(
  gpu: Gpu,
  store: ProgressStore,
  shape: { rows: number; C: number },
): Promise<MatmulTileChoice> {
  const key = tilesKey(gpu, shape.rows, shape.C);
  const kept = await store.getProgress<TunedTiles>(key);
  // A damaged or foreign record is measured again, never trusted.
  if (kept?.tiles && tilesFit(gpu, kept.tiles)) {
    useMatmulTiles(gpu, kept.tiles);
    return { tiles: kept.tiles, source: 'kept' };
  }
  const tuned = await tuneMatmul(gpu, { shapes: stepShapes(shape.rows, shape.C) });
  await store.setProgress(key, tuned.record);
  return { tiles: tuned.record.tiles, source: 'tuned' };
}
