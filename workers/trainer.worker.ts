// The trainer worker: the GPU trainer (src/trainer) behind comlink. Only this entry point lives
// here; the page starts it through src/tab/trainer-client.ts. What the trainer keeps across
// reloads (the error-feedback residual, tuned tiles) goes to the tab's IndexedDB.
import * as Comlink from 'comlink';
import { acquireGpu } from '../src/gpu';
import { openStorage } from '../src/storage';
import { createGpuTrainer, type Trainer } from '../src/trainer';

const storage = openStorage();
const trainer = createGpuTrainer({
  acquireGpu: (onLost) => acquireGpu({ onLost }),
  store: {
    getProgress: async <T>(name: string) => (await storage).getProgress<T>(name),
    setProgress: async (name, value) => (await storage).setProgress(name, value),
  },
});

// Large results move to the page instead of being copied.
const api: Trainer = {
  ...trainer,
  async train(request, onProgress) {
    const result = await trainer.train(request, onProgress);
    return Comlink.transfer(result, [result.update.buffer]);
  },
  async readParams() {
    const params = await trainer.readParams();
    return Comlink.transfer(params, [params.buffer]);
  },
};
Comlink.expose(api);
