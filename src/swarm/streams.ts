// Ending a stream: a stream is closed only once both ends closed their side. A server that has
// sent its reply closes its side and then waits, under a deadline, for the peer to close too; a
// peer that never does (or never reads the reply) loses the stream instead of keeping it open.
import type { Stream } from '@libp2p/interface';

/**
 * Closes our end of `stream` (once what we wrote is sent) and resolves when the remote closed its
 * end too; rejects when `signal` aborts first (the caller then aborts the stream).
 */
export async function closeBothEnds(stream: Stream, signal: AbortSignal): Promise<void> {
  await stream.close({ signal });
  await new Promise<void>((resolve, reject) => {
    if (stream.status !== 'open') return resolve();
    const done = () => {
      signal.removeEventListener('abort', fail);
      resolve();
    };
    const fail = () => {
      stream.removeEventListener('close', done);
      reject(signal.reason);
    };
    stream.addEventListener('close', done, { once: true });
    signal.addEventListener('abort', fail, { once: true });
  });
}
