// Browser-side halves of the pacing tests: the page drives the trainer worker through the tab's
// trainer client and checks setPacing() (duty cycle, pause) against what the trainer reports:
// per-step busy and idle time from its progress events, and its activity() while it holds.
import { initParams, paramLayout } from '../../src/model';
import { startTrainerWorker, type TrainerWorker } from '../../src/tab';
import type { TrainerInit, TrainProgress, TrainRequest } from '../../src/trainer';
import { createRandom } from '../../src/util/random';

export interface PacingCase extends TrainerInit {
  /** Random tokens below config.vocab in each split. */
  tokens: number;
}

const request = (steps: number, firstStep = 0): TrainRequest => ({
  steps,
  seed: 1,
  firstStep,
  codec: { format: 'int8', blockSize: 256, density: 1 },
});

function randomTokens(n: number, vocab: number, seed: number): Uint32Array {
  const next = createRandom(seed);
  return Uint32Array.from({ length: n }, () => Math.floor(next() * vocab));
}

/**
 * The page's trainer, shared by the tests (a worker's first init compiles every pipeline: seconds on
 * a CPU adapter), handed out at duty cycle 1, unpaused, from the initial parameters.
 */
let shared: Promise<TrainerWorker> | undefined;
async function startTrainer(c: PacingCase): Promise<TrainerWorker> {
  shared ??= (async () => {
    const trainer = startTrainerWorker();
    await trainer.init({ config: c.config, batchSize: c.batchSize, context: c.context });
    await trainer.loadData(randomTokens(c.tokens, c.config.vocab, 1), randomTokens(c.tokens, c.config.vocab, 2));
    return trainer;
  })();
  const trainer = await shared;
  await trainer.setPacing({ dutyCycle: 1, paused: false });
  await trainer.loadParams(initParams(paramLayout(c.config), 7));
  return trainer;
}

/** Polls the trainer's activity until `ok` holds for it. */
async function untilActivity(
  trainer: TrainerWorker,
  ok: (a: Awaited<ReturnType<TrainerWorker['activity']>>) => boolean,
) {
  for (;;) {
    const a = await trainer.activity();
    if (ok(a)) return a;
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface DutyRun {
  dutyCycle: number;
  steps: number;
  /** Per step: its busy time, and the idle time that followed it (none after the last). */
  busyMs: number[];
  idleAfterMs: number[];
  /** The result's totals, and the last progress event's (equal: no wait follows the last step). */
  totalBusyMs: number;
  totalIdleMs: number;
  lastProgressBusyMs: number;
  lastProgressIdleMs: number;
}

/** Trains `steps` steps at each duty cycle in turn (after warm-up steps), recording each step's busy and idle time. */
export async function dutyCycleRuns(c: PacingCase & { steps: number; dutyCycles: number[] }): Promise<DutyRun[]> {
  const trainer = await startTrainer(c);
  // The first steps compile pipelines: keep them out of the measured runs.
  await trainer.train(request(2));
  const runs: DutyRun[] = [];
  let firstStep = 2;
  for (const dutyCycle of c.dutyCycles) {
    await trainer.setPacing({ dutyCycle });
    const progress: TrainProgress[] = [];
    const r = await trainer.train(request(c.steps, firstStep), (p) => void progress.push(p));
    firstStep += c.steps;
    const last = progress.at(-1)!;
    runs.push({
      dutyCycle,
      steps: r.losses.length,
      busyMs: progress.map((p, i) => p.busyMs - (progress[i - 1]?.busyMs ?? 0)),
      idleAfterMs: progress.slice(1).map((p, i) => p.idleMs - progress[i]!.idleMs),
      totalBusyMs: r.busyMs,
      totalIdleMs: r.idleMs,
      lastProgressBusyMs: last.busyMs,
      lastProgressIdleMs: last.idleMs,
    });
  }
  return runs;
}

/**
 * Pauses a long train() from its step-2 progress callback (awaited by the trainer before it goes on),
 * waits until the trainer has looked at the pause three times and stayed, unpauses, waits for a step,
 * then cancels.
 */
export async function pauseMidTraining(c: PacingCase) {
  const trainer = await startTrainer(c);
  const events: TrainProgress[] = [];
  const running = trainer.train(request(200), async (p) => {
    events.push(p);
    if (p.step === 2 && !p.holding) await trainer.setPacing({ paused: true });
  });
  const held = await untilActivity(trainer, (a) => a.holding && a.holdChecks >= 3);
  const holdEvents = events.filter((e) => e.holding);
  await trainer.setPacing({ paused: false });
  const resumed = await untilActivity(trainer, (a) => a.steps > held.steps);
  await trainer.cancel();
  const r = await running;
  return {
    heldAtStep: held.steps,
    holdChecks: held.holdChecks,
    holdEvents: holdEvents.map((e) => e.step),
    resumedTo: resumed.steps,
    cancelled: r.cancelled,
    steps: r.losses.length,
    idleMs: r.idleMs,
  };
}

/**
 * Paused before train() starts: the trainer holds before its first step; unpaused, the call runs all
 * its steps. A second paused call is cancelled while it holds: it ends with no step.
 */
export async function pausedBeforeTrain(c: PacingCase & { steps: number }) {
  const trainer = await startTrainer(c);
  await trainer.setPacing({ paused: true });
  const progress: TrainProgress[] = [];
  let settled = false;
  const running = trainer.train(request(c.steps), (p) => void progress.push(p));
  void running.finally(() => (settled = true)).catch(() => {});
  const held = await untilActivity(trainer, (a) => a.holding && a.holdChecks >= 3);
  const settledWhileHeld = settled;
  await trainer.setPacing({ paused: false });
  const r = await running;

  await trainer.setPacing({ paused: true });
  const second = trainer.train(request(c.steps, c.steps));
  await untilActivity(trainer, (a) => a.holding);
  await trainer.cancel();
  const cancelled = await second;
  return {
    stepsWhileHeld: held.steps,
    settledWhileHeld,
    firstEvent: progress[0],
    steps: r.losses.length,
    stepEvents: progress.filter((p) => !p.holding).length,
    idleMs: r.idleMs,
    cancelledSteps: cancelled.losses.length,
    cancelledFlag: cancelled.cancelled,
    cancelledTokens: cancelled.tokens,
  };
}

/**
 * At duty cycle 0.0001 the wait after a step is 9,999 times the step (minutes): cancel() during it,
 * and in a second call a raise to duty cycle 1, must end it, or the test times out.
 */
export async function longWaitInterrupted(c: PacingCase) {
  const trainer = await startTrainer(c);
  await trainer.setPacing({ dutyCycle: 0.0001 });
  const cancelling = trainer.train(request(5));
  await untilActivity(trainer, (a) => a.steps === 1);
  await trainer.cancel();
  const cancelled = await cancelling;
  const raising = trainer.train(request(3, 5));
  await untilActivity(trainer, (a) => a.steps === 1);
  await trainer.setPacing({ dutyCycle: 1 });
  const raised = await raising;
  return {
    cancelled: cancelled.cancelled,
    cancelledSteps: cancelled.losses.length,
    raisedSteps: raised.losses.length,
  };
}

/** Duty cycles setPacing must refuse (built here: JSON would turn NaN into null on the way in). */
const BAD_DUTY_CYCLES = [0, 1.5, Number.NaN, -0.5, Number.POSITIVE_INFINITY];

/** setPacing's error message for each of BAD_DUTY_CYCLES (or 'no error'), then whether training still works. */
export async function pacingRejects(c: PacingCase): Promise<{ messages: string[]; stepsAfter: number }> {
  const trainer = await startTrainer(c);
  const messages: string[] = [];
  for (const dutyCycle of BAD_DUTY_CYCLES) {
    try {
      await trainer.setPacing({ dutyCycle });
      messages.push('no error');
    } catch (e) {
      messages.push((e as Error).message);
    }
  }
  // The refused values left the pacing as it was (duty cycle 1, not paused): training runs.
  const r = await trainer.train(request(2));
  return { messages, stepsAfter: r.losses.length };
}
