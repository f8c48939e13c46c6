// The one trainer interface. The same whether the trainer runs in the page, in the worker (the tab
// reaches it through comlink: src/tab/trainer-client.ts), or in a Node process: every method is
// async and every argument and result is structured-cloneable.
import type { CodecSettings } from '../fed';
import { DEFAULT_HYPER, type GptConfig, type TrainHyper } from '../model';
import type { MatmulTileChoice } from './tiles';

export interface TrainerInit {
  config: GptConfig;
  /** Sequences per step. */
  batchSize: number;
  /** Tokens per sequence (at most config.context). */
  context: number;
}

export interface TrainerInfo {
  /** "vendor · architecture · description" of the GPU adapter (or what trains without one). */
  adapter: string;
  parameters: number;
  /** Memory the model holds (GPU memory on a GPU). */
  bytes: number;
  /**
   * On a GPU: the matmul tile this adapter uses, and whether it was tuned now or kept from an
   * earlier tuning. Absent on the CPU reference (src/volunteer/cpu-trainer.ts).
   */
  matmulTiles?: MatmulTileChoice;
}

/** The inner optimiser's settings a round may set; the rest are the model's defaults. */
export interface InnerHyper {
  lr?: number;
  weightDecay?: number;
  /** Local steps over which lr ramps up linearly (warmedLr); none when absent. */
  warmupSteps?: number;
}

/** The inner lr at local step `i` (from 0): `lr·(i + 1)/warmupSteps` during the warm-up, then `lr`. */
export function warmedLr(lr: number, warmupSteps: number | undefined, i: number): number {
  return warmupSteps && i < warmupSteps ? (lr * (i + 1)) / warmupSteps : lr;
}

/**
 * AdamW's settings at local step `i` of a request, on every trainer (a re-execution must repeat a
 * volunteer's steps): the model's defaults, the request's lr and weight decay, lr warmed up (warmedLr).
 */
export function stepHyper(hyper: InnerHyper | undefined, i: number): TrainHyper {
  const { warmupSteps, ...round } = hyper ?? {};
  const h = { ...DEFAULT_HYPER, ...round };
  return { ...h, lr: warmedLr(h.lr, warmupSteps, i) };
}

export interface TrainRequest {
  steps: number;
  hyper?: InnerHyper;
  /** Batches come from (seed, shard, step): disjoint shards for different volunteers. */
  seed: number;
  shard?: number;
  shardCount?: number;
  /** Index of the first batch, so consecutive calls read new data. */
  firstStep?: number;
  /**
   * How to encode the pseudo-gradient (start − end parameters) for the seed. The trainer adds its
   * error-feedback residual first, so only the encoded bytes leave it; the residual waits beside it
   * until updateAccepted() says the seed took the update in.
   */
  codec: CodecSettings;
  /** Profile the last step with timestamp queries and report the GPU-busy fraction. */
  profileLastStep?: boolean;
  /**
   * AdamW's second moment to start from, one code per block (fed/second-moment.ts); m then starts at
   * zero and neither moment is bias-corrected. Absent: fresh AdamW, bias-corrected.
   */
  secondMoment?: Uint8Array;
  /**
   * Report AdamW's second moment after the last step (TrainResult.secondMoment): the seed's
   * re-executions ask for it; a volunteer's round does not (on a GPU it costs a read-back).
   */
  reportSecondMoment?: boolean;
}

export interface TrainResult {
  /** The encoded pseudo-gradient, in the request's codec (transferred, not copied). */
  update: Uint8Array;
  /** Bytes the dense fp32 pseudo-gradient would have been. */
  denseBytes: number;
  losses: number[];
  tokens: number;
  /** Nominal FLOPs of the steps run. */
  flops: number;
  ms: number;
  /** Of `ms`, the time in steps (GPU work) and the time paced or paused between them. */
  busyMs: number;
  idleMs: number;
  cancelled: boolean;
  /** GPU time over wall time of the profiled step, when asked for and timestamps exist. */
  gpuBusyFraction?: number;
  /** AdamW's second moment after the last step, one code per block (fed/second-moment.ts), when asked for. */
  secondMoment?: Uint8Array;
}

/** Sent after every step, and once when a pause starts holding the trainer. */
export interface TrainProgress {
  step: number;
  steps: number;
  /** The loss of step `step`; undefined in a hold event before the first step. */
  loss?: number;
  /** Time the steps so far kept the GPU busy, and the time paced or paused between them. */
  busyMs: number;
  idleMs: number;
  /** True when the trainer stopped before the next step because it is paused. */
  holding: boolean;
}

/** How the volunteer lets the trainer use the GPU; applies between steps, at once. */
export interface Pacing {
  /** Fraction of wall time spent in steps, in (0, 1]: after a step of t ms it waits t·(1 − d)/d. */
  dutyCycle: number;
  /** Hold before the next step until unpaused (or cancelled). */
  paused: boolean;
}

/** What a running train() is doing right now: tests wait on it instead of on the clock. */
export interface TrainerActivity {
  /** Steps finished in the current (or last) train() call. */
  steps: number;
  holding: boolean;
  /** Times the trainer looked at the pause flag and stayed held, in this call. */
  holdChecks: number;
}

export interface Trainer {
  /** Acquires the GPU and builds the model; tunes (once per adapter, then kept) the matmul tiles. */
  init(init: TrainerInit): Promise<TrainerInfo>;
  /** Loads the parameter vector (layout v1 of the configured model) and resets the inner optimiser. */
  loadParams(flat: Float32Array): Promise<void>;
  readParams(): Promise<Float32Array>;
  /** The token arrays batches are drawn from. */
  loadData(train: Uint32Array, validation: Uint32Array): Promise<void>;
  /**
   * Runs `steps` AdamW steps and returns the encoded update. `onProgress` is awaited after each
   * step, so whatever it does (pause, cancel) applies before the next one.
   */
  train(request: TrainRequest, onProgress?: (p: TrainProgress) => void | Promise<void>): Promise<TrainResult>;
  /** The seed accepted the last update: its error-feedback residual carries over (and is kept). */
  updateAccepted(): Promise<void>;
  /** Asks a running train() to stop after its current step (or at once, while held). */
  cancel(): Promise<void>;
  /** Sets the duty cycle and pause; takes effect before the next step. */
  setPacing(next: Partial<Pacing>): Promise<void>;
  activity(): Promise<TrainerActivity>;
  /** Mean validation loss over `batches` fixed validation batches (the same for every peer). */
  evaluate(batches: number): Promise<number>;
  /** Continues `prompt` by `n` tokens, sampling from softmax(logits / temperature) (greedy at 0). */
  sample(prompt: Uint32Array, n: number, temperature: number, seed?: number): Promise<Uint32Array>;
  /** Destroys the device as a driver reset would: for tests of the recovery path. */
  simulateDeviceLoss(): Promise<void>;
}
