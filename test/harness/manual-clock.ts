// A manual Clock for tests: time stands still until the test moves it, and timers fire in time
// order, each at its own time. Tests then wait for states, and check deadlines and back-offs exactly.
import type { Clock } from '../../src/util/clock';

export interface ManualClock extends Clock {
  /** Moves time forward by `ms`, firing (synchronously) every timer due on the way. */
  advance(ms: number): void;
  /** Timers neither fired nor cancelled. */
  pending(): number;
  /**
   * Settles `work`, moving time on by itself: whenever the event loop has had a turn and `work` is
   * still pending, time jumps to the next timer and fires it. Good for lower bounds ("not before
   * the back-off"); a jump may come while `work` still awaits real I/O (hashing), so time may run
   * ahead of what a real clock would show.
   */
  run<T>(work: Promise<T>): Promise<T>;
}

interface Timer {
  at: number;
  /** Creation order: timers due at the same time fire in the order they were set. */
  seq: number;
  fn: () => void;
}

/** A manual clock starting at `start` (default 2026-01-01T00:00:00Z). */
export function manualClock(start = Date.UTC(2026, 0, 1)): ManualClock {
  let now = start;
  let seq = 0;
  const timers = new Set<Timer>();
  const next = (): Timer | undefined => {
    let first: Timer | undefined;
    for (const t of timers) if (!first || t.at < first.at || (t.at === first.at && t.seq < first.seq)) first = t;
    return first;
  };
  const fire = (t: Timer) => {
    timers.delete(t);
    now = Math.max(now, t.at);
    t.fn();
  };
  return {
    now: () => now,
    after(ms, fn) {
      const t = { at: now + Math.max(0, ms), seq: seq++, fn };
      timers.add(t);
      return () => void timers.delete(t);
    },
    advance(ms) {
      const until = now + ms;
      for (let t = next(); t && t.at <= until; t = next()) fire(t);
      now = until;
    },
    pending: () => timers.size,
    async run(work) {
      let settled = false;
      const done = work.finally(() => {
        settled = true;
      });
      done.catch(() => {}); // rejections are the caller's, through `work`
      while (!settled) {
        // A real timer's turn, not only the check phase's: work waiting on the thread pool (WebCrypto's
        // hashes, file I/O) gets there before time moves, as it would in real time.
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (settled) break;
        const t = next();
        // No timer: `work` waits on real I/O only; give it a moment.
        if (t) fire(t);
        else await new Promise((resolve) => setTimeout(resolve, 1));
      }
      return work;
    },
  };
}
