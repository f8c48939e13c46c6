// The Node volunteer's trainer on a GPU: the tab's WebGPU trainer (src/trainer/gpu-trainer.ts) on
// Dawn's adapter, its records in memory but its tuned matmul tiles in a file (./tiles-file.ts). Its
// kernels import WGSL with Vite's `?raw`: load this module only after registering the loader that
// gives those imports (src/volunteer/vite-imports.ts), as scripts/volunteer.ts does.
import { memoryProgressStore } from '../storage';
import type { Trainer } from '../trainer/trainer';
import { dawnAdapter, dawnGpu } from './dawn';
import { defaultTilesFile, jsonFileStore } from './tiles-file';

/**
 * A trainer on Dawn's adapter, and that adapter; fails saying what to install when Vulkan offers none.
 * Its tuned matmul tiles are kept in `tilesFile`.
 */
export async function createDawnTrainer(
  tilesFile = defaultTilesFile(),
): Promise<{ trainer: Trainer; adapter: GPUAdapter }> {
  const adapter = await dawnAdapter();
  const gpu = dawnGpu();
  // After dawnGpu(): the GPU modules read WebGPU's globals (GPUBufferUsage, …) as they load.
  const [{ acquireGpu }, { createGpuTrainer }] = await Promise.all([
    import('../gpu'),
    import('../trainer/gpu-trainer'),
  ]);
  const trainer = createGpuTrainer({
    acquireGpu: (onLost) => acquireGpu({ gpu, onLost }),
    store: memoryProgressStore(),
    tileStore: jsonFileStore(tilesFile),
  });
  return { trainer, adapter };
}
