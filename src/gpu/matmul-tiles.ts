// The tiled matmul's tiles as plain data, apart from its launcher (./matmul.ts) so that code without
// WebGPU, such as a spec that makes one test per candidate, can read them.

/** Workgroup tile of the tiled kernel: TILE_M × TILE_N outputs, TILE_K deep, TM rows × 8 columns per thread. */
export interface MatmulTiles {
  TILE_M: number;
  TILE_N: number;
  TILE_K: number;
  TM: number;
}

/**
 * Tile candidates tried by tuneMatmul; each adapter keeps the fastest. Every thread computes TM × 8
 * outputs: 4 × 8 in the smallest tile, 8 × 8 as GPU matmuls commonly do, up to 16 × 8.
 */
export const TILE_CANDIDATES: MatmulTiles[] = [
  { TILE_M: 32, TILE_N: 32, TILE_K: 16, TM: 4 },
  { TILE_M: 64, TILE_N: 64, TILE_K: 16, TM: 8 },
  { TILE_M: 64, TILE_N: 64, TILE_K: 32, TM: 8 },
  { TILE_M: 128, TILE_N: 64, TILE_K: 16, TM: 8 },
  { TILE_M: 64, TILE_N: 64, TILE_K: 16, TM: 16 },
  { TILE_M: 128, TILE_N: 128, TILE_K: 16, TM: 8 },
  { TILE_M: 128, TILE_N: 128, TILE_K: 16, TM: 16 },
];

/**
 * Until tiles are tuned or installed for the adapter: 128 threads, each 16 × 8 outputs, 16 KiB of
 * workgroup memory. Of the candidates, the fastest at 1024³ on both CPU emulators (SwiftShader, lavapipe).
 */
export const DEFAULT_TILES: MatmulTiles = { TILE_M: 128, TILE_N: 128, TILE_K: 16, TM: 16 };
/** The fallback for products too small to fill the adapter with the installed tile: 32 threads, 4 KiB. */
export const SMALL_TILES: MatmulTiles = { TILE_M: 32, TILE_N: 32, TILE_K: 16, TM: 4 };
