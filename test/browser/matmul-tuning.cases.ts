// Browser-side halves of matmul-tuning.spec.ts: the small-tile fallback, the products the trainer
// tunes on, and tiles kept from an earlier session.
import {
  acquireGpu,
  assumedParallelism,
  chooseTiles,
  type Gpu,
  type MatmulShape,
  type MatmulTiles,
  SMALL_TILES,
  tuneMatmul,
  useMatmulTiles,
} from '../../src/gpu';
import { DEFAULT_HYPER, paramLayout } from '../../src/model';
import { createGpuGpt } from '../../src/model/gpu-gpt';
import { memoryProgressStore } from '../../src/storage';
import { installMatmulTiles, type StepShape, stepMatmuls, tilesKey } from '../../src/trainer';
import { createRandom } from '../../src/util/random';
import { type MatmulCaseResult, matmulCase } from './gpu.cases';
import { errorMessages } from './run-kernels';

/** A product of `workgroups` workgroups of `tiles` (one column of them), small K. */
const productOf = (tiles: MatmulTiles, workgroups: number, seed: number) => ({
  M: workgroups * tiles.TILE_M,
  N: tiles.TILE_N,
  K: 8,
  seed,
  atol: 1e-5,
  rtol: 1e-5 * Math.sqrt(8),
});

/**
 * Products one workgroup short of the parallelism and at it, on a device with `tiles` installed
 * and `parallelism`, then on a fresh device with neither (the default tile and the assumed parallelism).
 */
export async function fallbackFollowsParallelism(c: { tiles: MatmulTiles; parallelism: number }) {
  const installed = await acquireGpu();
  const fresh = await acquireGpu();
  try {
    useMatmulTiles(installed, c.tiles, c.parallelism);
    const assumed = assumedParallelism(fresh);
    // What an untuned device launches for a product big enough for any adapter.
    const defaultTiles = chooseTiles(fresh, 2 ** 16, 2 ** 16, 1);
    // With a parallelism of 1, no product is below it.
    const launches = async (g: Gpu, tiles: MatmulTiles, parallelism: number) => ({
      below: parallelism > 1 ? await matmulCase(productOf(tiles, parallelism - 1, 2), g) : undefined,
      at: await matmulCase(productOf(tiles, parallelism, 3), g),
    });
    return {
      installed: await launches(installed, c.tiles, c.parallelism),
      assumed,
      // A CPU implementation runs about one workgroup per core.
      cores: installed.adapter.isFallbackAdapter ? navigator.hardwareConcurrency : undefined,
      fresh: await launches(fresh, defaultTiles, assumed),
      defaultTiles,
    };
  } finally {
    installed.destroy();
    fresh.destroy();
  }
}

export type FallbackResult = Awaited<ReturnType<typeof fallbackFollowsParallelism>>;

/** A small GPT's step shape, for the tests. */
const STEP: StepShape = {
  config: { vocab: 64, context: 16, layers: 2, heads: 2, width: 32 },
  batchSize: 2,
  context: 16,
};

/** The matmul dispatches of one profiled training step of the GPU model, and what stepMatmuls lists. */
export async function stepMatmulsMatchTheStep() {
  const gpu = await acquireGpu();
  const model = await createGpuGpt(gpu, paramLayout(STEP.config), { B: STEP.batchSize, T: STEP.context });
  try {
    const random = createRandom(5);
    const tokens = Uint32Array.from({ length: STEP.batchSize * STEP.context + 1 }, () =>
      Math.floor(random() * STEP.config.vocab),
    );
    const { profile } = await model.step(tokens.subarray(0, -1), tokens.subarray(1), DEFAULT_HYPER, { profile: true });
    const listed: MatmulShape[] = stepMatmuls(STEP);
    return {
      clock: profile?.clock,
      dispatched: profile?.kernels.filter((k) => k.kernel.startsWith('matmul')).length ?? 0,
      listed: listed.reduce((sum, s) => sum + (s.count ?? 1), 0),
      layers: STEP.config.layers,
    };
  } finally {
    model.destroy();
    gpu.destroy();
  }
}

/** tuneMatmul on shapes that all take the thin path, and on one that does beside one that does not. */
export async function tuningLeavesOutThinProducts() {
  const gpu = await acquireGpu();
  try {
    const [allThin] = await errorMessages([() => tuneMatmul(gpu, { shapes: [{ M: 4, N: 300, K: 64 }] })]);
    const { ranking } = await tuneMatmul(gpu, {
      shapes: [
        { M: 4, N: 300, K: 64 },
        { M: 64, N: 64, K: 32 },
      ],
      candidates: [SMALL_TILES],
      runs: 1,
    });
    return { allThin, ranked: ranking.length };
  } finally {
    gpu.destroy();
  }
}

/** A record kept for this adapter and step shape is installed as it is, without tuning. */
export async function keptTilesAreInstalled(record: { tiles: MatmulTiles; parallelism: number }) {
  const gpu = await acquireGpu();
  try {
    const store = memoryProgressStore();
    await store.setProgress(tilesKey(gpu, STEP), { ...record, adapter: 'kept', clock: 'timestamp', measuredAt: '' });
    const choice = await installMatmulTiles(gpu, store, STEP);
    const launches: MatmulCaseResult[] = [
      await matmulCase(productOf(record.tiles, record.parallelism - 1, 4), gpu),
      await matmulCase(productOf(record.tiles, record.parallelism, 5), gpu),
    ];
    return { choice, launches };
  } finally {
    gpu.destroy();
  }
}
