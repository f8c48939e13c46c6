// The inner learning rate over a run's rounds: the seed sets each round's `hyper.lr` from it (volunteers
// see only that round's value). Without a schedule every round has the configured lr.

/** A warm-up over the first rounds, then a cosine down to a fraction of the lr at the run's last round. */
export interface LrSchedule {
  /** Rounds over which the lr ramps up linearly, from lr/warmupRounds to lr. */
  warmupRounds: number;
  /** The round at which the cosine reaches its floor; later rounds stay there. */
  rounds: number;
  /** The floor, as a fraction of lr (0 to 1). */
  finalFraction: number;
}

/** Checks a schedule's fields; throws naming the first that is wrong. */
export function checkLrSchedule(s: LrSchedule): void {
  if (!Number.isInteger(s.warmupRounds) || s.warmupRounds < 0)
    throw new Error(`lr schedule: warmupRounds must be a non-negative integer, got ${s.warmupRounds}`);
  if (!Number.isInteger(s.rounds) || s.rounds <= s.warmupRounds)
    throw new Error(`lr schedule: rounds must be an integer above warmupRounds (${s.warmupRounds}), got ${s.rounds}`);
  if (!(s.finalFraction >= 0 && s.finalFraction <= 1))
    throw new Error(`lr schedule: finalFraction must be from 0 to 1, got ${s.finalFraction}`);
}

/** Round `round`'s inner lr (rounds from 0) under `schedule`; `lr` itself without one. */
export function scheduledLr(lr: number, schedule: LrSchedule | undefined, round: number): number {
  if (!schedule) return lr;
  const { warmupRounds, rounds, finalFraction } = schedule;
  if (round < warmupRounds) return (lr * (round + 1)) / warmupRounds;
  const progress = Math.min(1, (round - warmupRounds) / (rounds - warmupRounds));
  return lr * (finalFraction + (1 - finalFraction) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
