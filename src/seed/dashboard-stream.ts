// The dashboard's live updates: one Server-Sent Events stream per open dashboard page. A new stream
// gets the whole state at once (a `run` and a `live` event); then every pushIntervalMs each stream
// gets `live`, and `run` again when it changed. One timer and one reading serve every stream, and
// run only while one is open. The seed is open to strangers, so streams are capped in all and per
// IP address (DASHBOARD_LIMITS in ./limits.ts; the server answers 429 past them), and a stream
// whose reader falls behind by more than its buffer is closed: its page reconnects and starts again
// from the whole state.
import { Readable } from 'node:stream';
import { type Clock, systemClock } from '../util/clock';
import type { DashboardData } from './dashboard';
import { DASHBOARD_LIMITS, type DashboardLimits } from './limits';

/** The events a dashboard stream sends, each a JSON document of its kind (dashboard.ts). */
export type DashboardEvent = keyof DashboardData;

export interface DashboardStreams {
  /** A new stream for a client at `address` (its body, in text/event-stream), or undefined past the caps. */
  open(address: string): { type: string; body: Readable } | undefined;
  /** Closes every stream. */
  stop(): void;
}

export interface DashboardStreamOptions {
  /** Over DASHBOARD_LIMITS (tests lower the caps). */
  limits?: Partial<DashboardLimits>;
  /** Time of the pushes (tests move a manual one). Default: the system's. */
  clock?: Clock;
}

/** One Server-Sent Event (JSON never holds a raw line break, so one data line carries it). */
function sse(event: DashboardEvent, json: string): string {
  return `event: ${event}\ndata: ${json}\n\n`;
}

export function dashboardStreams(data: DashboardData, opts: DashboardStreamOptions = {}): DashboardStreams {
  const limits = { ...DASHBOARD_LIMITS, ...opts.limits };
  const clock = opts.clock ?? systemClock;
  const streams = new Set<Readable>();
  const perAddress = new Map<string, number>();
  /** The `run` event the streams were last sent. */
  let lastRun: string | undefined;
  let cancelPush: (() => void) | undefined;

  /** Queues `text` on `stream`, or closes it when its reader is a buffer behind. */
  const send = (stream: Readable, text: string) => {
    if (!stream.push(text)) stream.destroy();
  };

  const push = () => {
    cancelPush = clock.after(limits.pushIntervalMs, push);
    const run = JSON.stringify(data.run());
    const text = (run === lastRun ? '' : sse('run', run)) + sse('live', JSON.stringify(data.live()));
    lastRun = run;
    for (const stream of streams) send(stream, text);
  };

  const close = (stream: Readable, address: string) => {
    streams.delete(stream);
    const left = (perAddress.get(address) ?? 1) - 1;
    if (left > 0) perAddress.set(address, left);
    else perAddress.delete(address);
    if (streams.size === 0) {
      cancelPush?.();
      cancelPush = undefined;
    }
  };

  return {
    open(address) {
      const fromAddress = perAddress.get(address) ?? 0;
      if (streams.size >= limits.maxStreams || fromAddress >= limits.maxStreamsPerIp) return undefined;
      const run = JSON.stringify(data.run());
      // Alone, its `run` is the one every stream has; beside others, theirs stands (a change reaches all).
      if (streams.size === 0) lastRun = run;
      // Pushed to, never pulled: read() has nothing to fetch.
      const stream = new Readable({ read() {}, highWaterMark: limits.streamBufferBytes });
      streams.add(stream);
      perAddress.set(address, fromAddress + 1);
      stream.once('close', () => close(stream, address));
      send(stream, sse('run', run) + sse('live', JSON.stringify(data.live())));
      cancelPush ??= clock.after(limits.pushIntervalMs, push);
      return { type: 'text/event-stream; charset=utf-8', body: stream };
    },
    stop() {
      cancelPush?.();
      cancelPush = undefined;
      for (const stream of streams) stream.destroy();
    },
  };
}
