// Browser-side halves of the trainer-worker tests: the page drives workers/trainer.worker.ts through comlink.
import * as Comlink from 'comlink';
import { initParams, paramLayout } from '../../src/model';
import type { TrainerApi, TrainerInit, TrainProgress } from '../../workers/trainer.worker';

function startTrainer(): { api: Comlink.Remote<TrainerApi>; worker: Worker } {
  const worker = new Worker(new URL('../../workers/trainer.worker.ts', import.meta.url), { type: 'module' });
  return { api: Comlink.wrap<TrainerApi>(worker), worker };
}

export interface TrainCase extends TrainerInit {
  steps: number;
  lr: number;
  evalBatches: number;
  train: number[];
  validation: number[];
}

/** Trains through the worker from a fresh init and reports validation loss before and after. */
export async function trainThroughWorker(c: TrainCase) {
  const { api, worker } = startTrainer();
  try {
    const info = await api.init({ config: c.config, batchSize: c.batchSize, context: c.context });
    await api.loadData(Uint32Array.from(c.train), Uint32Array.from(c.validation));
    await api.loadParams(initParams(paramLayout(c.config), 7));
    const before = await api.evaluate(c.evalBatches);
    const progress: number[] = [];
    const r = await api.train(
      { steps: c.steps, seed: 1, hyper: { lr: c.lr }, profileLastStep: true },
      Comlink.proxy((p: TrainProgress) => progress.push(p.step)),
    );
    const after = await api.evaluate(c.evalBatches);
    let norm = 0;
    for (const x of r.pseudoGradient) norm += x * x;
    const sample = await api.sample(Uint32Array.from(c.validation.slice(0, 8)), 5, 0.8);
    return {
      parameters: info.parameters,
      before,
      after,
      firstLoss: r.losses[0],
      lastLoss: r.losses.at(-1),
      steps: r.losses.length,
      progress: progress.length,
      tokens: r.tokens,
      flops: r.flops,
      ms: r.ms,
      gpuBusyFraction: r.gpuBusyFraction,
      pseudoGradientNorm: Math.sqrt(norm),
      pseudoGradientLength: r.pseudoGradient.length,
      sample: Array.from(sample),
    };
  } finally {
    worker.terminate();
  }
}

/** cancel() stops a long train() between steps; the partial result still carries its pseudo-gradient. */
export async function cancelStopsTraining(c: TrainCase) {
  const { api, worker } = startTrainer();
  try {
    await api.init(c);
    await api.loadData(Uint32Array.from(c.train), Uint32Array.from(c.validation));
    await api.loadParams(initParams(paramLayout(c.config), 7));
    const running = api.train(
      { steps: 1000, seed: 1 },
      Comlink.proxy((p: TrainProgress) => p.step === 2 && void api.cancel()),
    );
    const r = await running;
    return { cancelled: r.cancelled, steps: r.losses.length, length: r.pseudoGradient.length };
  } finally {
    worker.terminate();
  }
}

/** A lost device makes the call fail with a clear error (no hang); the rebuilt trainer keeps working with the same parameters. */
export async function deviceLossRecovers(c: TrainCase) {
  const { api, worker } = startTrainer();
  try {
    await api.init(c);
    await api.loadData(Uint32Array.from(c.train), Uint32Array.from(c.validation));
    const init = initParams(paramLayout(c.config), 7);
    await api.loadParams(init);
    const before = await api.evaluate(1);
    await api.simulateDeviceLoss();
    let error = '';
    try {
      await api.evaluate(1);
    } catch (e) {
      error = (e as Error).message;
    }
    const after = await api.evaluate(1);
    return { error, before, after };
  } finally {
    worker.terminate();
  }
}

/** Calls in the wrong order or with bad arguments fail with clear errors. */
export async function trainerRejects(c: TrainCase) {
  const { api, worker } = startTrainer();
  const messages: string[] = [];
  const attempt = async (f: () => Promise<unknown>) => {
    try {
      await f();
      messages.push('no error');
    } catch (e) {
      messages.push((e as Error).message);
    }
  };
  try {
    await attempt(() => api.train({ steps: 1, seed: 1 }));
    await attempt(() => api.evaluate(1));
    await api.loadData(Uint32Array.from(c.train), Uint32Array.from(c.validation));
    await attempt(() => api.train({ steps: 1, seed: 1 }));
    await api.init(c);
    await attempt(() => api.train({ steps: 0, seed: 1 }));
    await attempt(() => api.init({ ...c, config: { ...c.config, heads: 3 } }));
    return messages;
  } finally {
    worker.terminate();
  }
}
