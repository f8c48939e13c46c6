// Browser-side halves of the pacing tests: the page drives workers/trainer.worker.ts through
// comlink and checks setPacing() (duty cycle, pause) against the busyMs / idleMs train() reports.
import * as Comlink from 'comlink';
import { initParams, paramLayout } from '../../src/model';
import { createRandom } from '../../src/util/random';
import type { TrainerApi, TrainerInit, TrainProgress, TrainResult } from '../../workers/trainer.worker';

export interface PacingCase extends TrainerInit {
  /** Random tokens below config.vocab in each split. */
  tokens: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `ok` every 10 ms; fails after `ms`. */
async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

function randomTokens(n: number, vocab: number, seed: number): Uint32Array {
  const next = createRandom(seed);
  return Uint32Array.from({ length: n }, () => Math.floor(next() * vocab));
}

/** A fresh worker, initialised, with random data and parameters loaded. */
async function startTrainer(c: PacingCase): Promise<{ api: Comlink.Remote<TrainerApi>; worker: Worker }> {
  const worker = new Worker(new URL('../../workers/trainer.worker.ts', import.meta.url), { type: 'module' });
  const api = Comlink.wrap<TrainerApi>(worker);
  try {
    await api.init({ config: c.config, batchSize: c.batchSize, context: c.context });
    await api.loadData(randomTokens(c.tokens, c.config.vocab, 1), randomTokens(c.tokens, c.config.vocab, 2));
    await api.loadParams(initParams(paramLayout(c.config), 7));
    return { api, worker };
  } catch (e) {
    worker.terminate();
    throw e;
  }
}

export interface DutyRun {
  dutyCycle: number;
  steps: number;
  busyMs: number;
  idleMs: number;
  /** busy / (busy + idle). */
  busyFraction: number;
  /** What train() reported, and what the page measured around the call. */
  ms: number;
  wallMs: number;
  /** The last progress event's busyMs / idleMs (equal to the result's: no wait follows the last step). */
  lastProgressBusyMs: number;
  lastProgressIdleMs: number;
  progressEvents: number;
}

/** Trains `steps` steps at each duty cycle in turn (after a warm-up step), reporting busy and idle time. */
export async function dutyCycleRuns(c: PacingCase & { steps: number; dutyCycles: number[] }): Promise<DutyRun[]> {
  const { api, worker } = await startTrainer(c);
  try {
    // The first steps compile pipelines: keep them out of the timed runs.
    await api.train({ steps: 2, seed: 1 });
    const runs: DutyRun[] = [];
    let firstStep = 2;
    for (const dutyCycle of c.dutyCycles) {
      await api.setPacing({ dutyCycle });
      const progress: TrainProgress[] = [];
      const t0 = performance.now();
      const r: TrainResult = await api.train(
        { steps: c.steps, seed: 1, firstStep },
        Comlink.proxy((p: TrainProgress) => void progress.push(p)),
      );
      const wallMs = performance.now() - t0;
      firstStep += c.steps;
      // Progress arrives on its own port: let the last event land.
      await until(() => progress.length === c.steps, 2000, `${c.steps} progress events`);
      const last = progress.at(-1)!;
      runs.push({
        dutyCycle,
        steps: r.losses.length,
        busyMs: r.busyMs,
        idleMs: r.idleMs,
        busyFraction: r.busyMs / (r.busyMs + r.idleMs),
        ms: r.ms,
        wallMs,
        lastProgressBusyMs: last.busyMs,
        lastProgressIdleMs: last.idleMs,
        progressEvents: progress.length,
      });
    }
    return runs;
  } finally {
    worker.terminate();
  }
}

/**
 * Pauses a long train() from its step-2 progress event, watches for `holdMs`, unpauses, waits for
 * steps to resume, then cancels.
 */
export async function pauseMidTraining(c: PacingCase & { holdMs: number }) {
  const { api, worker } = await startTrainer(c);
  try {
    let step = 0;
    let pausedAt = 0;
    const running = api.train(
      { steps: 200, seed: 1 },
      Comlink.proxy((p: TrainProgress) => {
        step = p.step;
        if (p.step === 2) {
          pausedAt = p.step;
          void api.setPacing({ paused: true });
        }
      }),
    );
    await until(() => pausedAt > 0, 60_000, 'step 2');
    await sleep(c.holdMs / 2);
    const midHold = step;
    await sleep(c.holdMs / 2);
    const endHold = step;
    await api.setPacing({ paused: false });
    const t = performance.now();
    await until(() => step > endHold, 30_000, 'a step after unpausing');
    const resumeMs = performance.now() - t;
    const resumedTo = step;
    await api.cancel();
    const r = await running;
    return {
      pausedAt,
      midHold,
      endHold,
      resumedTo,
      resumeMs,
      cancelled: r.cancelled,
      steps: r.losses.length,
      busyMs: r.busyMs,
      idleMs: r.idleMs,
    };
  } finally {
    worker.terminate();
  }
}

/**
 * Pauses before train() starts: no step for `holdMs`, then unpaused the call runs all its steps.
 * A second paused call is cancelled while it waits: it ends at once, with no step.
 */
export async function pausedBeforeTrain(c: PacingCase & { holdMs: number; steps: number }) {
  const { api, worker } = await startTrainer(c);
  try {
    await api.setPacing({ paused: true });
    const progress: TrainProgress[] = [];
    let settled = false;
    const running = api.train(
      { steps: c.steps, seed: 1 },
      Comlink.proxy((p: TrainProgress) => void progress.push(p)),
    );
    void running.then(
      () => (settled = true),
      () => (settled = true),
    );
    await sleep(c.holdMs);
    const stepsWhilePaused = progress.length;
    const settledWhilePaused = settled;
    await api.setPacing({ paused: false });
    const r = await running;
    await until(() => progress.length === c.steps, 2000, `${c.steps} progress events`);

    await api.setPacing({ paused: true });
    const second = api.train({ steps: c.steps, seed: 1, firstStep: c.steps });
    await sleep(300);
    const t = performance.now();
    await api.cancel();
    const cancelled = await second;
    const cancelMs = performance.now() - t;
    return {
      stepsWhilePaused,
      settledWhilePaused,
      steps: r.losses.length,
      idleMs: r.idleMs,
      firstProgressIdleMs: progress[0]!.idleMs,
      cancelledSteps: cancelled.losses.length,
      cancelledFlag: cancelled.cancelled,
      cancelledTokens: cancelled.tokens,
      cancelMs,
    };
  } finally {
    worker.terminate();
  }
}

/**
 * With a very low duty cycle the wait after a step is long (99 × the step at 0.01): cancel() during it,
 * and in a second call a raise to duty cycle 1, must take effect without sitting out the wait.
 */
export async function longWaitInterrupted(c: PacingCase) {
  const { api, worker } = await startTrainer(c);
  try {
    await api.train({ steps: 2, seed: 1 });
    const dutyCycle = 0.01;
    await api.setPacing({ dutyCycle });

    let firstBusy = 0;
    const cancelling = api.train(
      { steps: 5, seed: 1, firstStep: 2 },
      Comlink.proxy((p: TrainProgress) => {
        if (p.step === 1) firstBusy = p.busyMs;
      }),
    );
    await until(() => firstBusy > 0, 30_000, 'step 1');
    await sleep(50);
    let t = performance.now();
    await api.cancel();
    const cancelled = await cancelling;
    const cancelMs = performance.now() - t;

    let secondBusy = 0;
    const raising = api.train(
      { steps: 3, seed: 1, firstStep: 7 },
      Comlink.proxy((p: TrainProgress) => {
        if (p.step === 1) secondBusy = p.busyMs;
      }),
    );
    await until(() => secondBusy > 0, 30_000, 'step 1');
    await sleep(50);
    t = performance.now();
    await api.setPacing({ dutyCycle: 1 });
    const raised = await raising;
    const raiseMs = performance.now() - t;
    const waitOf = (busy: number) => (busy * (1 - dutyCycle)) / dutyCycle;
    return {
      cancelled: cancelled.cancelled,
      cancelledSteps: cancelled.losses.length,
      cancelMs,
      cancelWaitMs: waitOf(firstBusy),
      raisedSteps: raised.losses.length,
      raiseMs,
      raiseWaitMs: waitOf(secondBusy),
    };
  } finally {
    worker.terminate();
  }
}

/** Duty cycles setPacing must refuse (built here: JSON would turn NaN into null on the way in). */
const BAD_DUTY_CYCLES = [0, 1.5, Number.NaN, -0.5, Number.POSITIVE_INFINITY];

/** setPacing's error message for each of BAD_DUTY_CYCLES (or 'no error'), then whether training still works. */
export async function pacingRejects(c: PacingCase): Promise<{ messages: string[]; stepsAfter: number }> {
  const { api, worker } = await startTrainer(c);
  try {
    const messages: string[] = [];
    for (const dutyCycle of BAD_DUTY_CYCLES) {
      try {
        await api.setPacing({ dutyCycle });
        messages.push('no error');
      } catch (e) {
        messages.push((e as Error).message);
      }
    }
    // The refused values left the pacing as it was (duty cycle 1, not paused): training runs.
    const r = await api.train({ steps: 2, seed: 1 });
    return { messages, stepsAfter: r.losses.length };
  } finally {
    worker.terminate();
  }
}
