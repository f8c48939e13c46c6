// The one place that starts the trainer worker: the page reaches the GPU only through this client,
// which speaks the same Trainer interface as the trainer itself (src/trainer).
import * as Comlink from 'comlink';
import type { Trainer } from '../trainer';

export interface TrainerWorker extends Trainer {
  /** Ends the worker and its GPU device. */
  terminate(): void;
}

export function startTrainerWorker(): TrainerWorker {
  const worker = new Worker(new URL('../../workers/trainer.worker.ts', import.meta.url), { type: 'module' });
  const remote = Comlink.wrap<Trainer>(worker);
  return {
    init: (init) => remote.init(init),
    loadParams: (flat) => remote.loadParams(flat),
    readParams: () => remote.readParams(),
    loadData: (train, validation) => remote.loadData(train, validation),
    // The callback crosses as a proxy: the worker awaits it after each step.
    train: (request, onProgress) => remote.train(request, onProgress && Comlink.proxy(onProgress)),
    updateAccepted: () => remote.updateAccepted(),
    cancel: () => remote.cancel(),
    setPacing: (next) => remote.setPacing(next),
    activity: () => remote.activity(),
    evaluate: (batches) => remote.evaluate(batches),
    sample: (prompt, n, temperature, seed) => remote.sample(prompt, n, temperature, seed),
    simulateDeviceLoss: () => remote.simulateDeviceLoss(),
    terminate() {
      remote[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}
