// The trainer's side of pacing: between two steps it waits as the volunteer's duty cycle asks, and
// holds while paused. Waits go in slices of at most PACE_SLICE_MS and re-read the settings each
// time, so cancel(), a pause or a new duty cycle applies at once rather than after a long wait.
import type { Pacing } from './trainer';

/** Longest slice of a wait before the pacer looks at its settings again. */
export const PACE_SLICE_MS = 50;

/** The wait after a step of `stepMs` that keeps the GPU busy a fraction `dutyCycle` of the time. */
export function dutyWaitMs(stepMs: number, dutyCycle: number): number {
  return (stepMs * (1 - dutyCycle)) / dutyCycle;
}

export function validatePacing(next: Partial<Pacing>, current: Pacing): Pacing {
  const dutyCycle = next.dutyCycle ?? current.dutyCycle;
  if (!(dutyCycle > 0 && dutyCycle <= 1)) throw new Error(`dutyCycle must be in (0, 1], got ${dutyCycle}`);
  return { dutyCycle, paused: next.paused ?? current.paused };
}

export interface WaitHooks {
  /** Called once when a pause starts holding; awaited before the hold begins. */
  onHold?(): void | Promise<void>;
  /** Called each time the pacer looks at the pause flag and stays held. */
  onHoldCheck?(): void;
}

export interface Pacer {
  readonly pacing: Pacing;
  readonly cancelled: boolean;
  set(next: Partial<Pacing>): void;
  /** A new train() call: clears an earlier cancel. */
  begin(): void;
  cancel(): void;
  /** Waits after a step that took `stepMs` as the pacing asks (0 before the first step); returns the ms waited. */
  wait(stepMs: number, hooks?: WaitHooks): Promise<number>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createPacer(initial: Pacing = { dutyCycle: 1, paused: false }): Pacer {
  let pacing = initial;
  let cancelled = false;
  return {
    get pacing() {
      return pacing;
    },
    get cancelled() {
      return cancelled;
    },
    set(next) {
      pacing = validatePacing(next, pacing);
    },
    begin() {
      cancelled = false;
    },
    cancel() {
      cancelled = true;
    },
    async wait(stepMs, hooks = {}) {
      const t0 = performance.now();
      while (!cancelled) {
        const left = t0 + dutyWaitMs(stepMs, pacing.dutyCycle) - performance.now();
        if (left <= 0) break;
        await sleep(Math.min(left, PACE_SLICE_MS));
      }
      if (pacing.paused && !cancelled) {
        await hooks.onHold?.();
        for (;;) {
          await sleep(PACE_SLICE_MS);
          if (!pacing.paused || cancelled) break;
          hooks.onHoldCheck?.();
        }
      }
      return performance.now() - t0;
    },
  };
}
