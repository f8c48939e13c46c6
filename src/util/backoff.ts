// Retry delays that double from `firstMs` up to `maxMs`, and start over after a success.

export interface Backoff {
  /** The delay before the next attempt; each call doubles the one after. */
  next(): number;
  /** A success: the next failure waits `firstMs` again. */
  reset(): void;
}

export function backoff(firstMs: number, maxMs: number): Backoff {
  let delay = firstMs;
  return {
    next() {
      const d = delay;
      delay = Math.min(delay * 2, maxMs);
      return d;
    },
    reset() {
      delay = firstMs;
    },
  };
}
