// The trainer worker: owns the GPU and the model, exposed to the page with comlink.
// Long calls report progress and can be cancelled between steps; a lost device is
// rebuilt and the call in flight fails with a clear error.
import * as Comlink from 'comlink';
import { TokenDataset } from '../src/data';
import { type AdapterSummary, acquireGpu, type Gpu, GpuDeviceLostError } from '../src/gpu';
import { type GptConfig, type ParamLayout, parameterCount, paramLayout, tensor } from '../src/model';
import { createGpuGpt, DEFAULT_HYPER, type GpuGpt, type TrainHyper } from '../src/model/gpu-gpt';
import { createRandom } from '../src/util/random';

export interface TrainerInit {
  config: GptConfig;
  /** Sequences per step. */
  batchSize: number;
  /** Tokens per sequence (at most config.context). */
  context: number;
}

export interface TrainerInfo {
  adapter: AdapterSummary;
  parameters: number;
  /** GPU memory the model holds. */
  bytes: number;
}

export interface TrainRequest {
  steps: number;
  hyper?: Partial<TrainHyper>;
  /** Batches come from (seed, shard, step): disjoint shards for different volunteers. */
  seed: number;
  shard?: number;
  shardCount?: number;
  /** Index of the first batch, so consecutive calls read new data. */
  firstStep?: number;
  /** Profile the last step with timestamp queries and report the GPU-busy fraction. */
  profileLastStep?: boolean;
}

export interface TrainResult {
  /** Start minus end parameters, the update a volunteer sends (transferred, not copied). */
  pseudoGradient: Float32Array;
  losses: number[];
  tokens: number;
  /** Nominal FLOPs of the steps run: 6·(parameters − wpe)·tokens + 6·layers·T·width·tokens. */
  flops: number;
  ms: number;
  /** Of `ms`, the time in steps (GPU work) and the time paced or paused between them. */
  busyMs: number;
  idleMs: number;
  cancelled: boolean;
  /** GPU time over wall time of the profiled step, when asked for and timestamps exist. */
  gpuBusyFraction?: number;
}

export interface TrainProgress {
  step: number;
  steps: number;
  loss: number;
  /** Time the steps so far kept the GPU busy, and the time paced or paused between them. */
  busyMs: number;
  idleMs: number;
}

/** How the volunteer lets the worker use the GPU; applies between steps, at once. */
export interface Pacing {
  /** Fraction of wall time spent in steps, in (0, 1]: after a step of t ms it waits t·(1 − d)/d. */
  dutyCycle: number;
  /** Hold before the next step until unpaused (or cancelled). */
  paused: boolean;
}

interface State {
  gpu: Gpu;
  layout: ParamLayout;
  model: GpuGpt;
  init: TrainerInit;
  /** The parameters last loaded or trained to, kept to rebuild after a device loss. */
  params: Float32Array;
}

/** How long a failed call waits for the device-lost notice before deciding the failure was something else. */
const LOSS_SETTLE_MS = 250;

let state: State | undefined;
let data: TokenDataset | undefined;
let lostReason: string | undefined;
let cancelRequested = false;
let pacing: Pacing = { dutyCycle: 1, paused: false };
/** How often a paused worker looks at its flags again. */
const PAUSE_POLL_MS = 50;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits as the pacing asks after a step that took `stepMs`; returns the time waited. The duty-cycle
 * wait goes in slices of at most PAUSE_POLL_MS and re-reads the duty cycle each time, so a cancel()
 * or a new duty cycle applies at once rather than after a wait of up to 99 steps (duty cycle 0.01).
 */
async function pace(stepMs: number): Promise<number> {
  const t0 = performance.now();
  while (!cancelRequested) {
    const d = pacing.dutyCycle;
    const left = t0 + (stepMs * (1 - d)) / d - performance.now();
    if (left <= 0) break;
    await sleep(Math.min(left, PAUSE_POLL_MS));
  }
  while (pacing.paused && !cancelRequested) await sleep(PAUSE_POLL_MS);
  return performance.now() - t0;
}

function ready(): State {
  if (!state) throw new Error('trainer not initialised: call init() first');
  return state;
}

async function build(init: TrainerInit, params?: Float32Array): Promise<State> {
  const layout = paramLayout(init.config);
  const gpu = await acquireGpu({ onLost: (reason) => (lostReason = reason) });
  lostReason = undefined;
  const model = await createGpuGpt(gpu, layout, { B: init.batchSize, T: init.context });
  const start = params ?? new Float32Array(layout.total);
  model.loadParams(start);
  return { gpu, layout, model, init, params: start };
}

/** Runs a GPU call; on device loss, rebuilds the device and model (keeping the last parameters) and fails clearly. */
async function guarded<T>(what: string, body: (s: State) => Promise<T>): Promise<T> {
  const s = ready();
  try {
    return await body(s);
  } catch (e) {
    if (!(e instanceof GpuDeviceLostError)) {
      await Promise.race([s.gpu.device.lost, new Promise((resolve) => setTimeout(resolve, LOSS_SETTLE_MS))]);
    }
    if (!(e instanceof GpuDeviceLostError) && !lostReason && !s.gpu.lost) throw e;
    const reason = lostReason ?? s.gpu.lost?.reason ?? (e as Error).message;
    state = await build(s.init, s.params);
    throw new Error(
      `GPU device lost during ${what} (${reason}); the device was rebuilt with the last parameters: retry the call`,
    );
  }
}

function nominalFlops(layout: ParamLayout, T: number, tokens: number): number {
  const { layers, width } = layout.config;
  return 6 * (parameterCount(layout) - tensor(layout, 'wpe').size) * tokens + 6 * layers * T * width * tokens;
}

const api = {
  async init(init: TrainerInit): Promise<TrainerInfo> {
    state?.model.destroy();
    state?.gpu.destroy();
    state = await build(init);
    return { adapter: state.gpu.adapter, parameters: parameterCount(state.layout), bytes: state.model.bytes };
  },

  /** Loads the parameter vector (layout v1 of the configured model). */
  async loadParams(flat: Float32Array): Promise<void> {
    const s = ready();
    s.model.loadParams(flat);
    s.params = flat;
    s.model.resetOptimizer();
  },

  async readParams(): Promise<Float32Array> {
    const params = await guarded('readParams', (s) => s.model.readParams());
    return Comlink.transfer(params, [params.buffer]);
  },

  /** The token arrays batches are drawn from. */
  loadData(train: Uint32Array, validation: Uint32Array): void {
    data = new TokenDataset(train, validation);
  },

  /** Asks a running train() to stop after its current step. */
  cancel(): void {
    cancelRequested = true;
  },

  /** Sets the duty cycle and pause; takes effect before the next step. */
  setPacing(next: Partial<Pacing>): void {
    const dutyCycle = next.dutyCycle ?? pacing.dutyCycle;
    if (!(dutyCycle > 0 && dutyCycle <= 1)) throw new Error(`dutyCycle must be in (0, 1], got ${dutyCycle}`);
    pacing = { dutyCycle, paused: next.paused ?? pacing.paused };
  },

  async train(request: TrainRequest, onProgress?: (p: TrainProgress) => void): Promise<TrainResult> {
    if (!data) throw new Error('no data: call loadData() first');
    const dataset = data;
    if (!Number.isInteger(request.steps) || request.steps < 1)
      throw new Error(`steps must be a positive integer, got ${request.steps}`);
    cancelRequested = false;
    const result = await guarded('train', async (s) => {
      const hyper = { ...DEFAULT_HYPER, ...request.hyper };
      const { batchSize, context } = s.init;
      const start = s.params;
      const losses: number[] = [];
      let gpuBusyFraction: number | undefined;
      let busyMs = 0;
      let idleMs = 0;
      const t0 = performance.now();
      for (let i = 0; i < request.steps && !cancelRequested; i++) {
        // Paused before the first step too: a paused volunteer starts no GPU work at all.
        if (i === 0 && pacing.paused) idleMs += await pace(0);
        if (cancelRequested) break;
        const batch = dataset.batch('train', {
          batchSize,
          context,
          seed: request.seed,
          shard: request.shard,
          shardCount: request.shardCount,
          step: (request.firstStep ?? 0) + i,
        });
        const profile = request.profileLastStep === true && i === request.steps - 1;
        const stepStart = performance.now();
        const r = await s.model.step(batch.inputs, batch.targets, hyper, { profile });
        if (r.profile?.clock === 'timestamp')
          gpuBusyFraction = r.profile.totalNs / 1e6 / (performance.now() - stepStart);
        if (!Number.isFinite(r.loss)) throw new Error(`training diverged: loss ${r.loss} at step ${i}`);
        losses.push(r.loss);
        const stepMs = performance.now() - stepStart;
        busyMs += stepMs;
        onProgress?.({ step: i + 1, steps: request.steps, loss: r.loss, busyMs, idleMs });
        if (i < request.steps - 1) idleMs += await pace(stepMs);
      }
      const ms = performance.now() - t0;
      const end = await s.model.readParams();
      s.params = end;
      const pseudoGradient = new Float32Array(start.length);
      for (let j = 0; j < start.length; j++) pseudoGradient[j] = start[j]! - end[j]!;
      const tokens = losses.length * batchSize * context;
      return {
        pseudoGradient,
        losses,
        tokens,
        flops: nominalFlops(s.layout, context, tokens),
        ms,
        busyMs,
        idleMs,
        cancelled: cancelRequested,
        gpuBusyFraction,
      };
    });
    return Comlink.transfer(result, [result.pseudoGradient.buffer]);
  },

  /** Mean validation loss over `batches` fixed validation batches (the same for every peer). */
  async evaluate(batches: number): Promise<number> {
    if (!data) throw new Error('no data: call loadData() first');
    const dataset = data;
    return guarded('evaluate', async (s) => {
      const set = dataset.evalBatches(batches, { batchSize: s.init.batchSize, context: s.init.context });
      let sum = 0;
      for (const b of set) sum += await s.model.loss(b.inputs, b.targets);
      return sum / set.length;
    });
  },

  /** Continues `prompt` by `n` tokens, sampling from softmax(logits / temperature) (greedy at 0). */
  async sample(prompt: Uint32Array, n: number, temperature: number, seed = 1): Promise<Uint32Array> {
    if (prompt.length === 0) throw new Error('sample needs a prompt of at least one token');
    return guarded('sample', async (s) => {
      const { batchSize, context } = s.init;
      const V = s.layout.config.vocab;
      const next = createRandom(seed);
      const tokens = Array.from(prompt);
      for (let i = 0; i < n; i++) {
        // Row 0 holds the last `context` tokens; causal attention makes the padding after them irrelevant.
        const window = tokens.slice(-context);
        const inputs = new Uint32Array(batchSize * context);
        inputs.set(window);
        const logits = await s.model.logits(inputs);
        const row = logits.subarray((window.length - 1) * V, window.length * V);
        tokens.push(pick(row, temperature, next()));
      }
      return Uint32Array.from(tokens.slice(prompt.length));
    });
  },

  /** Destroys the device as a driver reset would: for tests of the recovery path. */
  simulateDeviceLoss(): void {
    ready().gpu.device.destroy();
  },
};

function pick(logits: Float32Array, temperature: number, u: number): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  if (temperature <= 0) return best;
  let sum = 0;
  const weights = Array.from(logits, (x) => {
    const w = Math.exp((x - logits[best]!) / temperature);
    sum += w;
    return w;
  });
  let target = u * sum;
  for (let i = 0; i < weights.length; i++) {
    target -= weights[i]!;
    if (target <= 0) return i;
  }
  return best;
}

export type TrainerApi = typeof api;
Comlink.expose(api);
