// Browser-side halves of the trainer tests: the page drives the trainer worker through the tab's
// trainer client (src/tab/trainer-client.ts), exactly as the volunteer page does.
import { type CodecSettings, decodeUpdate } from '../../src/fed';
import { initParams, paramLayout } from '../../src/model';
import { openStorage } from '../../src/storage';
import { startTrainerWorker, type TrainerWorker } from '../../src/tab';
import { RESIDUAL_KEY, type TrainerInfo, type TrainerInit, type TrainProgress } from '../../src/trainer';
import { createCpuTrainer } from '../../src/volunteer/cpu-trainer';

export interface TrainCase extends TrainerInit {
  steps: number;
  lr: number;
  evalBatches: number;
  train: number[];
  validation: number[];
}

export const INT8: CodecSettings = { format: 'int8', blockSize: 256, density: 1 };

/** A trainer worker, initialised, with the case's data and fixed initial parameters loaded. */
async function startTrainer(c: TrainCase): Promise<{ trainer: TrainerWorker; info: TrainerInfo }> {
  const trainer = startTrainerWorker();
  try {
    const info = await trainer.init({ config: c.config, batchSize: c.batchSize, context: c.context });
    await trainer.loadData(Uint32Array.from(c.train), Uint32Array.from(c.validation));
    await trainer.loadParams(initParams(paramLayout(c.config), 7));
    return { trainer, info };
  } catch (e) {
    trainer.terminate();
    throw e;
  }
}

/**
 * The page's trainer, shared by the tests of a file (a worker's first init compiles every pipeline:
 * seconds on a CPU adapter); each use starts from the initial parameters with a fresh optimiser.
 */
let shared: Promise<{ trainer: TrainerWorker; info: TrainerInfo }> | undefined;
async function sharedTrainer(c: TrainCase) {
  shared ??= startTrainer(c);
  const s = await shared;
  await s.trainer.loadParams(initParams(paramLayout(c.config), 7));
  return s;
}

const l2 = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

/** Trains through the worker from a fresh init and reports validation loss before and after. */
export async function trainThroughWorker(c: TrainCase) {
  const { trainer } = await sharedTrainer(c);
  const before = await trainer.evaluate(c.evalBatches);
  const progress: number[] = [];
  const r = await trainer.train(
    { steps: c.steps, seed: 1, hyper: { lr: c.lr }, profileLastStep: true, codec: { ...INT8, format: 'fp32' } },
    (p: TrainProgress) => void progress.push(p.step),
  );
  const after = await trainer.evaluate(c.evalBatches);
  const parameters = paramLayout(c.config).total;
  const update = decodeUpdate(r.update, parameters);
  const sample = await trainer.sample(Uint32Array.from(c.validation.slice(0, 8)), 5, 0.8);
  return {
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
    updateNorm: l2(update),
    updateBytes: r.update.length,
    denseBytes: r.denseBytes,
    parameters,
    sample: Array.from(sample),
  };
}

/**
 * Error feedback lives beside the trainer: the same steps from the same weights encode to the same
 * bytes until the seed accepts an update; after updateAccepted() the residual is carried into the
 * next encoding and kept in IndexedDB, where a new worker finds it.
 */
export async function errorFeedbackStaysInTheTrainer(c: TrainCase) {
  const weights = initParams(paramLayout(c.config), 7);
  const round = async (t: TrainerWorker) => {
    await t.loadParams(weights);
    return (await t.train({ steps: 2, seed: 1, codec: INT8 })).update;
  };
  const { trainer: first } = await sharedTrainer(c);
  const storage = await openStorage();
  try {
    const a = await round(first);
    const b = await round(first);
    const keptBefore = await storage.getProgress<Float32Array>(RESIDUAL_KEY);
    await first.updateAccepted();
    const kept = await storage.getProgress<Float32Array>(RESIDUAL_KEY);
    const c2 = await round(first);
    // A new worker (a reload) starts from the kept residual.
    const { trainer: second } = await startTrainer(c);
    const d = await round(second);
    second.terminate();
    const same = (x: Uint8Array, y: Uint8Array) => x.length === y.length && x.every((v, i) => v === y[i]);
    return {
      repeatable: same(a, b),
      keptBefore: keptBefore === undefined,
      keptLength: kept?.length ?? 0,
      keptNorm: kept ? l2(kept) : 0,
      carried: !same(a, c2),
      reloadedCarries: same(c2, d),
      parameters: paramLayout(c.config).total,
    };
  } finally {
    storage.close();
  }
}

/** Tiles are tuned on the first init on an adapter (the shared trainer's) and kept: the next trainer reuses them. */
export async function tilesAreKept(c: TrainCase) {
  const storage = await openStorage();
  const keys = async () => (await storage.db.getAllKeys('progress')).map(String).filter((k) => k.startsWith('matmul'));
  try {
    const before = await keys();
    const first = (await sharedTrainer(c)).info.matmulTiles;
    const next = await startTrainer(c);
    next.trainer.terminate();
    return { before, after: await keys(), sources: [first?.source, next.info.matmulTiles?.source] };
  } finally {
    storage.close();
  }
}

/** cancel() from the progress callback after step 2 stops training there; the partial update still comes back. */
export async function cancelStopsTraining(c: TrainCase) {
  const { trainer } = await sharedTrainer(c);
  const r = await trainer.train({ steps: 1000, seed: 1, codec: INT8 }, async (p) => {
    if (p.step === 2) await trainer.cancel();
  });
  return { cancelled: r.cancelled, steps: r.losses.length, bytes: r.update.length };
}

/** A lost device makes the call fail with a clear error (no hang); the rebuilt trainer keeps working with the same parameters. */
export async function deviceLossRecovers(c: TrainCase) {
  const { trainer } = await sharedTrainer(c);
  const before = await trainer.evaluate(1);
  await trainer.simulateDeviceLoss();
  let error = '';
  try {
    await trainer.evaluate(1);
  } catch (e) {
    error = (e as Error).message;
  }
  const after = await trainer.evaluate(1);
  return { error, before, after };
}

/** Calls in the wrong order or with bad arguments fail with clear errors. */
export async function trainerRejects(c: TrainCase) {
  const trainer = startTrainerWorker();
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
    await attempt(() => trainer.train({ steps: 1, seed: 1, codec: INT8 }));
    await attempt(() => trainer.evaluate(1));
    await trainer.loadData(Uint32Array.from(c.train), Uint32Array.from(c.validation));
    await attempt(() => trainer.train({ steps: 1, seed: 1, codec: INT8 }));
    await trainer.init(c);
    await attempt(() => trainer.train({ steps: 0, seed: 1, codec: INT8 }));
    await attempt(() => trainer.init({ ...c, config: { ...c.config, heads: 3 } }));
    return messages;
  } finally {
    trainer.terminate();
  }
}

/**
 * A round that names AdamW's second moment (fed/second-moment.ts), on the GPU trainer through the
 * worker and on the CPU reference trainer in the page, from the same weights and batches: the
 * codes each reports after a fresh round, and the updates of a round started from the CPU's codes.
 */
export async function secondMomentAgainstCpu(c: TrainCase) {
  const { trainer: gpu } = await sharedTrainer(c);
  const cpu = createCpuTrainer();
  await cpu.init({ config: c.config, batchSize: c.batchSize, context: c.context });
  await cpu.loadData(Uint32Array.from(c.train), Uint32Array.from(c.validation));
  const start = initParams(paramLayout(c.config), 7);
  const fp32: CodecSettings = { ...INT8, format: 'fp32' };
  const round = async (t: Pick<TrainerWorker, 'loadParams' | 'train'>, secondMoment?: Uint8Array) => {
    await t.loadParams(start);
    return t.train({ steps: 2, seed: 3, hyper: { lr: c.lr }, codec: fp32, secondMoment, reportSecondMoment: true });
  };
  const [gpuFresh, cpuFresh] = [await round(gpu), await round(cpu)];
  const codes = cpuFresh.secondMoment!;
  const [gpuFrom, cpuFrom] = [await round(gpu, codes), await round(cpu, codes)];
  const parameters = start.length;
  const [g, r, f] = [gpuFrom, cpuFrom, gpuFresh].map((x) => decodeUpdate(x.update, parameters));
  const diff = g!.map((x, i) => x - r![i]!);
  return {
    codes: codes.length,
    codesOff: Array.from(gpuFresh.secondMoment!).filter((x, i) => Math.abs(x - codes[i]!) > 1).length,
    relativeError: l2(diff) / l2(r!),
    changedByCodes: l2(g!.map((x, i) => x - f![i]!)) / l2(f!),
  };
}
