// A Node volunteer (src/volunteer) run in the test's process, with what a test waits on.
import type { Receipt } from '../../src/fed';
import type { FetchProgress } from '../../src/swarm';
import type { Trainer } from '../../src/trainer/trainer';
import { runNodeVolunteer } from '../../src/volunteer';

/**
 * A Node volunteer on `seedUrl`, until stop(): its peer id once connected, its last piece progress and
 * whole downloads, its receipts, the round deltas it rebuilt weights from, the rounds it started from a
 * second moment, and its first receipt.
 */
export function startVolunteer(seedUrl: string, trainer?: Trainer) {
  const stop = new AbortController();
  const seen: {
    peerId?: string;
    fetched?: FetchProgress;
    /** Whole downloads of weights so far. */
    fetchCount: number;
    receipts: Receipt[];
    deltas: { round: number; bytes: number }[];
    /** The rounds it trained from a second moment the round named. */
    moments: number[];
  } = { fetchCount: 0, receipts: [], deltas: [], moments: [] };
  let onReceipt!: (r: Receipt) => void;
  const receipt = new Promise<Receipt>((resolve) => (onReceipt = resolve));
  const running = runNodeVolunteer({
    seedUrl,
    trainer,
    signal: stop.signal,
    onEvent: (e) => {
      if (e.type === 'connected') seen.peerId = e.peerId;
      if (e.type === 'fetch-progress') {
        seen.fetched = e.progress;
        seen.fetchCount = e.download;
      }
      if (e.type === 'delta') seen.deltas.push({ round: e.round, bytes: e.bytes });
      if (e.type === 'second-moment') seen.moments.push(e.round);
      if (e.type === 'receipt') {
        seen.receipts.push(e.receipt);
        onReceipt(e.receipt);
      }
    },
  });
  return {
    seen,
    /** Its loop runs until stopped: whichever comes first, its first receipt or its failure (undefined). */
    firstReceipt: Promise.race([receipt, running.then(() => undefined)]),
    stop: async () => {
      stop.abort();
      await running;
    },
  };
}
