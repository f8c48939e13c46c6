// The rounds' timeline, for the dashboard: when each of the last TIMELINE_ROUNDS_KEPT rounds opened,
// its deadline, when it closed and when its checkpoint was written, and the tokens it credited.
// Recorded from the coordinator's effects (rounds.ts wraps them), so the coordinator and its
// checkpoint stay as they are. In memory only: a restarted seed's timeline starts with the round it
// resumes.
import type { RoundManifest } from '../fed';
import { type Clock, systemClock } from '../util/clock';

/** Rounds the timeline keeps, the newest: a few hours of two-minute rounds, some 10 KiB. */
export const TIMELINE_ROUNDS_KEPT = 64;

/** One round's times (milliseconds since the epoch, on the seed's clock). */
export interface RoundTimes {
  round: number;
  /**
   * When its latest issue was published: a round that closed with no usable update, or assigned
   * nobody, goes out again (the time before that trained nothing).
   */
  openedAt: number;
  /** Times it was published. */
  issues: number;
  /** The deadline of its latest issue. */
  deadline: number;
  /** Volunteers its latest issue assigned. */
  assigned: number;
  /** When its latest issue stopped taking updates (its verification began); absent while open. */
  closedAt?: number;
  /** When its checkpoint was durable. */
  checkpointedAt?: number;
  /** Training tokens credited for it (with its checkpoint). */
  tokens?: number;
}

export interface RoundTimeline {
  /** A round went out (its first issue or another). */
  opened(manifest: Pick<RoundManifest, 'round' | 'deadline' | 'assignments'>): void;
  /** A round stopped taking updates. */
  closed(round: number): void;
  /** A round's checkpoint is durable; it credited `tokens`. */
  checkpointed(round: number, tokens: number): void;
  /** The rounds kept, oldest first (copies). */
  rounds(): RoundTimes[];
}

export function createRoundTimeline(clock: Clock = systemClock): RoundTimeline {
  /** By round, in the order they opened (rounds only ever move forward). */
  const kept = new Map<number, RoundTimes>();
  return {
    opened({ round, deadline, assignments }) {
      const assigned = Object.keys(assignments).length;
      const before = kept.get(round);
      // An amendment (newcomers assigned into the open round, same deadline) keeps the round's times.
      if (before && before.deadline === deadline && before.closedAt === undefined) {
        before.assigned = assigned;
        return;
      }
      // Another issue of a round replaces the times of the one before (a Map keeps the key's place).
      const issues = (before?.issues ?? 0) + 1;
      kept.set(round, { round, openedAt: clock.now(), issues, deadline, assigned });
      for (const old of kept.keys()) if (kept.size > TIMELINE_ROUNDS_KEPT) kept.delete(old);
    },
    closed(round) {
      const times = kept.get(round);
      // A close tried again (a checkpoint that failed) keeps the time the round stopped taking updates.
      if (times) times.closedAt ??= clock.now();
    },
    checkpointed(round, tokens) {
      const times = kept.get(round);
      if (times) Object.assign(times, { checkpointedAt: clock.now(), tokens });
    },
    rounds: () => [...kept.values()].map((times) => ({ ...times })),
  };
}
