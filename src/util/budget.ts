// Budgets per sender: requests over time (a token bucket per key: the update service's requests a
// minute, the gossip announcements a sender may have passed on) and things held at once.
import { type Clock, sleep } from './clock';

/** Keys tracked before full buckets (senders quiet for a whole refill) are forgotten. */
const TRACKED_KEYS = 16_384;

/**
 * A bucket of `tokens` (at most `capacity`) refilled at `count` per `perMs` over `elapsedMs`. A wall
 * clock can step back (NTP, a page's fake clock): time that ran backwards refills nothing, and the
 * bucket then counts from the new time, instead of waiting for the old one to come back.
 */
function refilled(tokens: number, capacity: number, elapsedMs: number, count: number, perMs: number): number {
  return Math.min(capacity, tokens + (Math.max(0, elapsedMs) * count) / perMs);
}

/**
 * A budget of `count` requests per `perMs` for each key, spent one per request, with bursts of up
 * to `count`: the returned function says whether `key` may have one more now (and spends it).
 */
export function requestBudget(count: number, perMs: number, clock: Clock): (key: string) => boolean {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return (key) => {
    const now = clock.now();
    const b = buckets.get(key) ?? { tokens: count, at: now };
    b.tokens = refilled(b.tokens, count, now - b.at, count, perMs);
    b.at = now;
    // A full bucket is the same as none: forgetting those keeps the map to recent senders.
    if (buckets.size > TRACKED_KEYS) for (const [k, v] of buckets) if (v.tokens >= count - 1) buckets.delete(k);
    if (b.tokens < 1) {
      buckets.set(key, b);
      return false;
    }
    b.tokens--;
    buckets.set(key, b);
    return true;
  };
}

/** Requests a paced sender keeps in hand below the receiver's budget: requests can arrive closer together than they left. */
export const PACER_MARGIN = 2;

/**
 * The sender's side of a requestBudget of `count` per `perMs`: the returned function resolves once
 * one more request fits (bursts of up to `count − PACER_MARGIN`), or at once when `signal` aborts.
 * An honest sender that waits on it is never refused for its rate.
 */
export function requestPacer(count: number, perMs: number, clock: Clock): (signal?: AbortSignal) => Promise<void> {
  const capacity = count - PACER_MARGIN;
  let tokens = capacity;
  let at = clock.now();
  return async (signal) => {
    while (!signal?.aborted) {
      const now = clock.now();
      tokens = refilled(tokens, capacity, now - at, count, perMs);
      at = now;
      if (tokens >= 1) {
        tokens--;
        return;
      }
      await sleep(clock, ((1 - tokens) * perMs) / count, signal).done;
    }
  };
}

/** How many of something each key holds at once (uploads, updates in flight); a key holding none takes no memory. */
export function heldByKey() {
  const held = new Map<string, number>();
  return {
    count: (key: string) => held.get(key) ?? 0,
    take: (key: string) => void held.set(key, (held.get(key) ?? 0) + 1),
    release(key: string): void {
      const left = (held.get(key) ?? 1) - 1;
      if (left > 0) held.set(key, left);
      else held.delete(key);
    },
  };
}
