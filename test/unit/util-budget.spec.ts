// Request budgets: the receiver's token bucket per sender (requestBudget) and the honest sender's
// pacer (requestPacer), which waits instead of being refused, under a manual clock.
import { expect, test } from '@playwright/test';
import { PACER_MARGIN, requestBudget, requestPacer } from '../../src/util/budget';
import { manualClock } from '../harness/manual-clock';

const COUNT = 30;
const PER_MS = 60_000;

test('the budget takes a burst of its count, then one request per perMs / count; each key has its own', () => {
  const clock = manualClock();
  const allowed = requestBudget(COUNT, PER_MS, clock);
  for (let i = 0; i < COUNT; i++) expect(allowed('a')).toBe(true);
  expect(allowed('a')).toBe(false);
  expect(allowed('b')).toBe(true);
  clock.advance(PER_MS / COUNT - 1);
  expect(allowed('a')).toBe(false);
  clock.advance(1);
  expect(allowed('a')).toBe(true);
  expect(allowed('a')).toBe(false);
});

test('the pacer lets a burst of count − PACER_MARGIN through at once, then waits perMs / count for each', async () => {
  const clock = manualClock();
  const pace = requestPacer(COUNT, PER_MS, clock);
  for (let i = 0; i < COUNT - PACER_MARGIN; i++) await pace();
  let through = false;
  const next = pace().then(() => {
    through = true;
  });
  await Promise.resolve();
  expect(through).toBe(false);
  clock.advance(PER_MS / COUNT - 1);
  await Promise.resolve();
  expect(through).toBe(false);
  clock.advance(1);
  await next;
  expect(through).toBe(true);
  expect(clock.pending()).toBe(0);
});

test('a paced sender is never refused by the budget, even when its requests arrive closer together than they left', async () => {
  const clock = manualClock();
  const pace = requestPacer(COUNT, PER_MS, clock);
  const allowed = requestBudget(COUNT, PER_MS, clock);
  let refused = 0;
  // 10 minutes of requests as fast as the pacer allows; each one's arrival varies by up to 250 ms.
  const sends = 10 * COUNT + COUNT;
  const arrivals: Promise<void>[] = [];
  for (let i = 0; i < sends; i++) {
    await clock.run(pace());
    const lag = (i * 7919) % 250;
    arrivals.push(
      new Promise<void>((resolve) =>
        clock.after(lag, () => {
          if (!allowed('sender')) refused++;
          resolve();
        }),
      ),
    );
  }
  clock.advance(250);
  await Promise.all(arrivals);
  expect(refused).toBe(0);
  // And it was paced, not let through: 10 minutes at most count per minute, after the first burst.
  expect(clock.now() - Date.UTC(2026, 0, 1)).toBeGreaterThanOrEqual(10 * PER_MS);
});

test('an aborted wait resolves at once and leaves no timer', async () => {
  const clock = manualClock();
  const pace = requestPacer(COUNT, PER_MS, clock);
  for (let i = 0; i < COUNT - PACER_MARGIN; i++) await pace();
  const stop = new AbortController();
  const waiting = pace(stop.signal);
  expect(clock.pending()).toBe(1);
  stop.abort();
  await waiting;
  expect(clock.pending()).toBe(0);
});

test('a clock that steps back half an hour neither stalls the pacer nor refills the budget', async () => {
  const base = manualClock();
  let offset = 0;
  const clock = { now: () => base.now() + offset, after: base.after };
  const pace = requestPacer(COUNT, PER_MS, clock);
  const allowed = requestBudget(COUNT, PER_MS, clock);
  for (let i = 0; i < COUNT - PACER_MARGIN; i++) {
    await pace();
    expect(allowed('a')).toBe(true);
  }
  offset = -30 * 60_000;
  // One refill interval later by the timers, as before the step: the pacer lets one through.
  const next = base.run(pace());
  await next;
  expect(base.now() - Date.UTC(2026, 0, 1)).toBe(PER_MS / COUNT);
  expect(allowed('a')).toBe(true);
  expect(allowed('a')).toBe(true);
  expect(allowed('a')).toBe(false);
});
