// The trainer on the CPU reference model (src/model/cpu): the same Trainer as the GPU one, for a
// volunteer without WebGPU (a Node process) and for the federated benchmark. It trains a round's
// local AdamW steps at the volunteer's pace and encodes the update with error feedback. Plain
// TypeScript on one thread, milliseconds per token: sized for the tiny and small presets.
import { TokenDataset } from '../data';
import { expandSecondMoment } from '../fed';
import {
  type GptCpuTrainState,
  gptForwardCpu,
  gptTrainStepCpu,
  type ParamLayout,
  parameterCount,
  paramLayout,
  sampleToken,
  UNCORRECTED_STEP,
} from '../model';
// Not src/trainer's index: it pulls in the GPU trainer, whose WGSL only the bundler loads.
import { createPacer } from '../trainer/pacing';
import { beginRound, encodeRound, runLocalSteps } from '../trainer/round';
import {
  stepHyper,
  type Trainer,
  type TrainerActivity,
  type TrainerInit,
  type TrainProgress,
  type TrainRequest,
} from '../trainer/trainer';
import { createRandom } from '../util/random';

interface Built {
  layout: ParamLayout;
  init: TrainerInit;
  /** The parameters last loaded or trained to, and the inner AdamW state that goes with them. */
  state: GptCpuTrainState;
}

/** Gives the event loop a turn: a step blocks it, and the volunteer's node must keep serving pieces. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function freshState(params: Float32Array): GptCpuTrainState {
  return { params, m: new Float32Array(params.length), v: new Float32Array(params.length), step: 0 };
}

export interface CpuTrainerOptions {
  /**
   * Keep the inner AdamW moments when new parameters are loaded, as DiLoCo's workers do across
   * rounds. For measurement only (bench/federated.ts): the seed re-executes a round from fresh
   * state to verify it, so a volunteer that keeps hidden state cannot be checked.
   */
  keepOptimizerState?: boolean;
}

/**
 * The error-feedback residual lives in memory: a volunteer that restarts begins again without one,
 * as a new volunteer would.
 */
export function createCpuTrainer(options: CpuTrainerOptions = {}): Trainer {
  let built: Built | undefined;
  let data: TokenDataset | undefined;
  /** Residual of the last update the seed accepted, and the one the update in flight would leave. */
  let residual: Float32Array | undefined;
  let pendingResidual: Float32Array | undefined;
  const pacer = createPacer();
  const activity: TrainerActivity = { steps: 0, holding: false, holdChecks: 0 };

  function ready(): Built {
    if (!built) throw new Error('trainer not initialised: call init() first');
    return built;
  }

  function dataset(): TokenDataset {
    if (!data) throw new Error('no data: call loadData() first');
    return data;
  }

  async function train(request: TrainRequest, onProgress?: (p: TrainProgress) => void | Promise<void>) {
    const { layout, init, state } = ready();
    const set = dataset();
    beginRound(request, pacer, activity);
    const { batchSize, context } = init;
    const start = state.params.slice();
    if (request.secondMoment) {
      state.v = expandSecondMoment(request.secondMoment, state.params.length);
      state.m = new Float32Array(state.params.length);
      state.step = UNCORRECTED_STEP;
    }
    const steps = await runLocalSteps({
      request,
      dataset: set,
      batchSize,
      context,
      pacer,
      activity,
      onProgress,
      step: async (batch, i) =>
        gptTrainStepCpu(layout, state, { ...batch, B: batchSize, T: context }, stepHyper(request.hyper, i)).loss,
      afterStep: yieldToEventLoop,
    });
    const encoded = encodeRound({
      start,
      end: state.params,
      secondMoment: request.reportSecondMoment ? state.v : undefined,
      residual,
      request,
      steps,
      layout,
      batchSize,
      context,
      cancelled: pacer.cancelled,
    });
    pendingResidual = encoded.residual;
    return encoded.result;
  }

  return {
    async init(init) {
      const layout = paramLayout(init.config);
      if (init.context > init.config.context)
        throw new Error(`context ${init.context} exceeds the model's ${init.config.context}`);
      built = { layout, init, state: freshState(new Float32Array(layout.total)) };
      residual = undefined;
      pendingResidual = undefined;
      // Parameters, AdamW's two moments and the gradients.
      return { adapter: 'CPU reference model', parameters: parameterCount(layout), bytes: 4 * 4 * layout.total };
    },

    async loadParams(flat) {
      const b = ready();
      if (flat.length !== b.layout.total)
        throw new Error(`parameters have ${flat.length} floats, the model needs ${b.layout.total}`);
      const kept = options.keepOptimizerState ? b.state : undefined;
      b.state = kept ? { ...kept, params: flat.slice() } : freshState(flat.slice());
    },

    readParams: async () => ready().state.params.slice(),

    async loadData(trainTokens, validation) {
      data = new TokenDataset(trainTokens, validation);
    },

    train,

    async updateAccepted() {
      if (!pendingResidual) return;
      residual = pendingResidual;
      pendingResidual = undefined;
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
      const { layout, init, state } = ready();
      const evals = dataset().evalBatches(batches, { batchSize: init.batchSize, context: init.context });
      let sum = 0;
      for (const e of evals) {
        sum += gptForwardCpu(layout, state.params, e.inputs, e.targets, init.batchSize, init.context).loss!;
        await yieldToEventLoop();
      }
      return sum / evals.length;
    },

    async sample(prompt, n, temperature, seed = 1) {
      if (prompt.length === 0) throw new Error('sample needs a prompt of at least one token');
      const { layout, init, state } = ready();
      const V = layout.config.vocab;
      const random = createRandom(seed);
      const tokens = Array.from(prompt);
      for (let i = 0; i < n; i++) {
        const window = Uint32Array.from(tokens.slice(-init.context));
        const { logits } = gptForwardCpu(layout, state.params, window, undefined, 1, window.length);
        tokens.push(sampleToken(logits.subarray((window.length - 1) * V), temperature, random));
      }
      return Uint32Array.from(tokens.slice(prompt.length));
    },

    async simulateDeviceLoss() {
      throw new Error('the CPU trainer has no device to lose');
    },
  };
}
