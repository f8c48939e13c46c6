// One round's local training, the same for every trainer (the GPU one, the CPU reference): the
// assignment's batches in order, the volunteer's pacing between steps (held while paused, ended by
// cancel), the progress reports and the busy/idle accounting; then the pseudo-gradient start − end,
// encoded with the error-feedback residual carried from the last update the seed accepted.
import type { Batch, TokenDataset } from '../data';
import { compressWithFeedback, denseFp32Bytes, encodeSecondMoment } from '../fed';
import { nominalTrainFlops, type ParamLayout } from '../model';
import type { Pacer } from './pacing';
import type { TrainerActivity, TrainProgress, TrainRequest, TrainResult } from './trainer';

/** What the steps of a round came to. */
export interface LocalSteps {
  losses: number[];
  busyMs: number;
  idleMs: number;
  /** From the first wait to the last step's end. */
  ms: number;
}

export interface LocalStepsOptions {
  request: TrainRequest;
  dataset: TokenDataset;
  batchSize: number;
  context: number;
  pacer: Pacer;
  activity: TrainerActivity;
  onProgress?: (p: TrainProgress) => void | Promise<void>;
  /** One training step on `batch`, the round's `i`-th; its loss. */
  step(batch: Batch, i: number): Promise<number>;
  /** After each step's report (the CPU trainer gives the event loop a turn there). */
  afterStep?(): Promise<void>;
}

/** Starts a train() call: checks the step count, clears an earlier cancel and the activity. */
export function beginRound(request: TrainRequest, pacer: Pacer, activity: TrainerActivity): void {
  if (!Number.isInteger(request.steps) || request.steps < 1) {
    throw new Error(`steps must be a positive integer, got ${request.steps}`);
  }
  pacer.begin();
  Object.assign(activity, { steps: 0, holding: false, holdChecks: 0 });
}

/** Runs the round's steps at the volunteer's pace until done or cancelled. */
export async function runLocalSteps(o: LocalStepsOptions): Promise<LocalSteps> {
  const { request, pacer, activity } = o;
  const losses: number[] = [];
  let busyMs = 0;
  let idleMs = 0;
  const report = (p: Omit<TrainProgress, 'steps' | 'busyMs' | 'idleMs'>) =>
    o.onProgress?.({ ...p, steps: request.steps, busyMs, idleMs });
  /** Waits as the pacing asks; tells the caller once when a pause starts holding the trainer. */
  const pace = async (stepMs: number) => {
    idleMs += await pacer.wait(stepMs, {
      onHold: () => {
        activity.holding = true;
        return report({ step: losses.length, loss: losses.at(-1), holding: true });
      },
      onHoldCheck: () => void activity.holdChecks++,
    });
    activity.holding = false;
  };
  const t0 = performance.now();
  // Paused before the first step too: a paused volunteer starts no work at all.
  await pace(0);
  for (let i = 0; i < request.steps && !pacer.cancelled; i++) {
    const batch = o.dataset.batch('train', {
      batchSize: o.batchSize,
      context: o.context,
      seed: request.seed,
      shard: request.shard,
      shardCount: request.shardCount,
      step: (request.firstStep ?? 0) + i,
    });
    const stepStart = performance.now();
    const loss = await o.step(batch, i);
    if (!Number.isFinite(loss)) throw new Error(`training diverged: loss ${loss} at step ${i}`);
    losses.push(loss);
    activity.steps = losses.length;
    const stepMs = performance.now() - stepStart;
    busyMs += stepMs;
    await report({ step: i + 1, loss, holding: false });
    await o.afterStep?.();
    if (i < request.steps - 1) await pace(stepMs);
  }
  return { losses, busyMs, idleMs, ms: performance.now() - t0 };
}

/**
 * The round's result: the pseudo-gradient start − end encoded in the request's codec with the carried
 * `residual` (when it fits), and the residual this update would leave once the seed accepts it.
 */
export function encodeRound(o: {
  start: Float32Array;
  end: Float32Array;
  /** AdamW's v after the last step, when the request asks for it to be reported. */
  secondMoment?: Float32Array;
  residual: Float32Array | undefined;
  request: TrainRequest;
  steps: LocalSteps;
  layout: ParamLayout;
  context: number;
  batchSize: number;
  cancelled: boolean;
}): { result: TrainResult; residual: Float32Array } {
  const pseudoGradient = new Float32Array(o.start.length);
  for (let j = 0; j < o.start.length; j++) pseudoGradient[j] = o.start[j]! - o.end[j]!;
  const carried = o.residual?.length === pseudoGradient.length ? o.residual : undefined;
  const compressed = compressWithFeedback(pseudoGradient, carried, o.request.codec);
  const { losses, busyMs, idleMs, ms } = o.steps;
  const tokens = losses.length * o.batchSize * o.context;
  return {
    result: {
      update: compressed.bytes,
      denseBytes: denseFp32Bytes(pseudoGradient.length),
      losses,
      tokens,
      flops: nominalTrainFlops(o.layout, o.context, tokens),
      ms,
      busyMs,
      idleMs,
      cancelled: o.cancelled,
      ...(o.secondMoment ? { secondMoment: encodeSecondMoment(o.secondMoment) } : {}),
    },
    residual: compressed.residual,
  };
}
