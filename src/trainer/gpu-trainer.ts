// The trainer on WebGPU: owns the device and the model, trains H local steps at the volunteer's
// pace, and encodes the update with error feedback, so only encoded bytes leave it. A lost device
// is rebuilt and the call in flight fails with a clear error. Runs wherever WebGPU does: the
// trainer worker (workers/trainer.worker.ts), or a Node process with Dawn.

import { TokenDataset } from '../data';
import { expandSecondMoment } from '../fed';
import { type Gpu, GpuDeviceLostError } from '../gpu';
import { parameterCount, paramLayout, sampleToken } from '../model';
// The GPU model pulls in WGSL sources, which only the bundler loads: not part of src/model's index.
import { createGpuGpt, type GpuGpt } from '../model/gpu-gpt';
import type { ProgressStore } from '../storage';
import { createRandom } from '../util/random';
import { createPacer } from './pacing';
import { beginRound, encodeRound, runLocalSteps } from './round';
import { installMatmulTiles, type MatmulTileChoice } from './tiles';
import {
  stepHyper,
  type Trainer,
  type TrainerActivity,
  type TrainerInit,
  type TrainProgress,
  type TrainRequest,
  type TrainResult,
} from './trainer';

export interface GpuTrainerDeps {
  /** A fresh device: at init, and again after a device loss. `onLost` fires when it is lost. */
  acquireGpu(onLost: (reason: string) => void): Promise<Gpu>;
  /** Where the trainer keeps what must survive a reload: the error-feedback residual, tuned tiles. */
  store: ProgressStore;
  /** Where tuned matmul tiles are kept instead, when they should outlive what `store` keeps. */
  tileStore?: ProgressStore;
}

/** Progress record of the error-feedback residual the seed has taken in so far. */
export const RESIDUAL_KEY = 'fed:residual';
/** How long a failed call waits for the device-lost notice before deciding the failure was something else. */
const LOSS_SETTLE_MS = 250;

interface Built {
  gpu: Gpu;
  model: GpuGpt;
  init: TrainerInit;
  /** The parameters last loaded or trained to, kept to rebuild after a device loss. */
  params: Float32Array;
  tiles: MatmulTileChoice;
}

export function createGpuTrainer(deps: GpuTrainerDeps): Trainer {
  let built: Built | undefined;
  let data: TokenDataset | undefined;
  let lostReason: string | undefined;
  /** Residual of the last update the seed accepted, and the one the update in flight would leave. */
  let residual: Float32Array | undefined;
  let pendingResidual: Float32Array | undefined;
  const pacer = createPacer();
  const activity: TrainerActivity = { steps: 0, holding: false, holdChecks: 0 };

  async function build(init: TrainerInit, params?: Float32Array): Promise<Built> {
    const layout = paramLayout(init.config);
    lostReason = undefined;
    const gpu = await deps.acquireGpu((reason) => {
      lostReason = reason;
    });
    const tiles = await installMatmulTiles(gpu, deps.tileStore ?? deps.store, init);
    const model = await createGpuGpt(gpu, layout, { B: init.batchSize, T: init.context });
    const start = params ?? new Float32Array(layout.total);
    model.loadParams(start);
    return { gpu, model, init, params: start, tiles };
  }

  function ready(): Built {
    if (!built) throw new Error('trainer not initialised: call init() first');
    return built;
  }

  function dataset(): TokenDataset {
    if (!data) throw new Error('no data: call loadData() first');
    return data;
  }

  /** Runs a GPU call; on device loss, rebuilds the device and model (keeping the last parameters) and fails clearly. */
  async function guarded<T>(what: string, body: (b: Built) => Promise<T>): Promise<T> {
    const b = ready();
    try {
      return await body(b);
    } catch (e) {
      if (!(e instanceof GpuDeviceLostError)) {
        await Promise.race([b.gpu.device.lost, new Promise((resolve) => setTimeout(resolve, LOSS_SETTLE_MS))]);
      }
      if (!(e instanceof GpuDeviceLostError) && !lostReason && !b.gpu.lost) throw e;
      const reason = lostReason ?? b.gpu.lost?.reason ?? (e as Error).message;
      built = await build(b.init, b.params);
      throw new Error(
        `GPU device lost during ${what} (${reason}); the device was rebuilt with the last parameters: retry the call`,
      );
    }
  }

  async function train(request: TrainRequest, onProgress?: (p: TrainProgress) => void | Promise<void>) {
    const set = dataset();
    beginRound(request, pacer, activity);
    return guarded('train', async (b): Promise<TrainResult> => {
      const { batchSize, context } = b.init;
      const start = b.params;
      if (request.secondMoment) b.model.resetOptimizer(expandSecondMoment(request.secondMoment, b.model.layout.total));
      let gpuBusyFraction: number | undefined;
      const steps = await runLocalSteps({
        request,
        dataset: set,
        batchSize,
        context,
        pacer,
        activity,
        onProgress,
        step: async (batch, i) => {
          const profile = request.profileLastStep === true && i === request.steps - 1;
          const stepStart = performance.now();
          const r = await b.model.step(batch.inputs, batch.targets, stepHyper(request.hyper, i), { profile });
          if (r.profile?.clock === 'timestamp') {
            gpuBusyFraction = r.profile.totalNs / 1e6 / (performance.now() - stepStart);
          }
          return r.loss;
        },
      });
      const end = await b.model.readParams();
      b.params = end;
      const encoded = encodeRound({
        start,
        end,
        secondMoment: request.reportSecondMoment ? await b.model.readSecondMoment() : undefined,
        residual,
        request,
        steps,
        layout: b.model.layout,
        batchSize,
        context,
        cancelled: pacer.cancelled,
      });
      pendingResidual = encoded.residual;
      return { ...encoded.result, gpuBusyFraction };
    });
  }

  return {
    async init(init) {
      built?.model.destroy();
      built?.gpu.destroy();
      built = await build(init);
      const stored = await deps.store.getProgress<Float32Array>(RESIDUAL_KEY);
      residual = stored instanceof Float32Array ? stored : undefined;
      const a = built.gpu.adapter;
      return {
        adapter: [a.vendor, a.architecture, a.description].filter(Boolean).join(' · ') || 'unknown adapter',
        parameters: parameterCount(built.model.layout),
        bytes: built.model.bytes,
        matmulTiles: built.tiles,
      };
    },

    async loadParams(flat) {
      const b = ready();
      b.model.loadParams(flat);
      b.params = flat;
      b.model.resetOptimizer();
    },

    readParams: () => guarded('readParams', (b) => b.model.readParams()),

    async loadData(trainTokens, validation) {
      data = new TokenDataset(trainTokens, validation);
    },

    train,

    async updateAccepted() {
      if (!pendingResidual) return;
      residual = pendingResidual;
      pendingResidual = undefined;
      await deps.store.setProgress(RESIDUAL_KEY, residual);
    },

    async cancel() {
      pacer.cancel();
    },

    async setPacing(next) {
      pacer.set(next);
    },

    async activity() {
      return { ...activity };
    },

    async evaluate(batches) {
      const set = dataset();
      return guarded('evaluate', async (b) => {
        const evals = set.evalBatches(batches, { batchSize: b.init.batchSize, context: b.init.context });
        let sum = 0;
        for (const e of evals) sum += await b.model.loss(e.inputs, e.targets);
        return sum / evals.length;
      });
    },

    async sample(prompt, n, temperature, seed = 1) {
      if (prompt.length === 0) throw new Error('sample needs a prompt of at least one token');
      return guarded('sample', async (b) => {
        const { batchSize, context } = b.init;
        const V = b.model.layout.config.vocab;
        const random = createRandom(seed);
        const tokens = Array.from(prompt);
        for (let i = 0; i < n; i++) {
          // Row 0 holds the last `context` tokens; causal attention makes the padding after them irrelevant.
          const window = tokens.slice(-context);
          const inputs = new Uint32Array(batchSize * context);
          inputs.set(window);
          const logits = await b.model.logits(inputs);
          tokens.push(sampleToken(logits.subarray((window.length - 1) * V, window.length * V), temperature, random));
        }
        return Uint32Array.from(tokens.slice(prompt.length));
      });
    },

    async simulateDeviceLoss() {
      ready().gpu.device.destroy();
    },
  };
}
