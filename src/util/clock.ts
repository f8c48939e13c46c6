// Time as the swarm, the seed's coordinator and the tab see it. Injected, so that tests move it themselves
// (every deadline, back-off and retry is then checked by state, never by waiting).

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once, `ms` from now; the returned function cancels the call. */
  after(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/**
 * Resolves `ms` from now, or at once when `signal` aborts; the returned `cancel` drops the timer
 * (the promise then never resolves, unless the signal aborts).
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): { done: Promise<void>; cancel: () => void } {
  let cancel = () => {};
  const done = new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const finish = () => {
      cancel();
      resolve();
    };
    const drop = clock.after(ms, finish);
    signal?.addEventListener('abort', finish, { once: true });
    cancel = () => {
      drop();
      signal?.removeEventListener('abort', finish);
    };
  });
  return { done, cancel };
}

/** An AbortSignal that aborts with a TimeoutError `ms` from now; `clear` drops its timer. */
export function timeoutSignal(clock: Clock, ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const clear = clock.after(ms, () => controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')));
  return { signal: controller.signal, clear };
}

/** Runs `io` with a signal that aborts `ms` from now (a TimeoutError); the timer is dropped after. */
export async function withDeadline<T>(clock: Clock, ms: number, io: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const deadline = timeoutSignal(clock, ms);
  try {
    return await io(deadline.signal);
  } finally {
    deadline.clear();
  }
}
