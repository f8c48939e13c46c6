// Reading HTTP from a party that may be hostile (src/util/read-at-most.ts): a body over the bound is
// refused whether its content-length says so or it only streams on (chunked, no length); the rest is
// left unread. A server that trickles its body is cut off at the read's deadline (a manual clock).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test } from '@playwright/test';
import {
  fetchAtMost,
  fetchJsonAtMost,
  fetchJsonAtMostIfAny,
  MIN_READ_BYTES_PER_S,
  OverBoundError,
  READ_HEADERS_MS,
  readDeadlineMs,
} from '../../src/util/read-at-most';
import { manualClock } from '../harness/manual-clock';

let server: Server;
let base: string;
/** Chunks the endless route wrote before the client hung up. */
let endlessChunks = 0;
/** Bytes the trickling route wrote, and whether its client hung up. */
const trickle = { bytes: 0, closed: false };
/** The most bytes the trickling route writes (a bounded loop), one every TRICKLE_EVERY_MS. */
const TRICKLE_MAX_BYTES = 3_000;
const TRICKLE_EVERY_MS = 10;

test.beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/small') return res.end('{"a":1}');
    if (req.url === '/long') return res.end(Buffer.alloc(2_000));
    if (req.url === '/missing') {
      res.statusCode = 404;
      return res.end('no');
    }
    if (req.url === '/broken') {
      res.statusCode = 500;
      return res.end('no');
    }
    if (req.url === '/trickle') {
      // Headers at once, then a byte now and then: within the bound, but never done.
      res.flushHeaders();
      const timer = setInterval(() => {
        if (trickle.bytes < TRICKLE_MAX_BYTES) res.write('x', () => trickle.bytes++);
      }, TRICKLE_EVERY_MS);
      res.on('close', () => {
        clearInterval(timer);
        trickle.closed = true;
      });
      return;
    }
    // Chunked, no content-length, never ending unless the client goes.
    const write = () => {
      endlessChunks++;
      if (res.write(Buffer.alloc(1_024))) setImmediate(write);
      else res.once('drain', write);
    };
    res.on('close', () => res.removeAllListeners('drain'));
    write();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

test('a body within the bound is read whole; JSON is parsed', async () => {
  expect(await fetchJsonAtMost(`${base}/small`, 100)).toEqual({ a: 1 });
  expect((await fetchAtMost(`${base}/long`, 2_000)).length).toBe(2_000);
});

test('a body over the bound is refused, by its content-length or as it streams; an error status is named', async () => {
  await expect(fetchAtMost(`${base}/long`, 1_999)).rejects.toThrow(OverBoundError);
  await expect(fetchAtMost(`${base}/long`, 1_999)).rejects.toThrow(`${base}/long is over the bound of 1999 bytes`);
  await expect(fetchAtMost(`${base}/endless`, 64 * 1_024)).rejects.toThrow(/endless is over the bound of 65536 bytes/);
  // The reader stopped soon after the bound: the server wrote far less than it would have.
  expect(endlessChunks).toBeLessThan(10_000);
  await expect(fetchAtMost(`${base}/missing`, 100)).rejects.toThrow(`${base}/missing answered 404`);
});

test('a document that may be absent: a 404 reads as none; other errors and bodies over the bound are still refused', async () => {
  expect(await fetchJsonAtMostIfAny(`${base}/missing`, 100)).toBeUndefined();
  expect(await fetchJsonAtMostIfAny(`${base}/small`, 100)).toEqual({ a: 1 });
  await expect(fetchJsonAtMostIfAny(`${base}/broken`, 100)).rejects.toThrow(`${base}/broken answered 500`);
  await expect(fetchJsonAtMostIfAny(`${base}/endless`, 64 * 1_024)).rejects.toThrow(
    /endless is over the bound of 65536 bytes/,
  );
});

test('a read gets READ_HEADERS_MS plus its bound at MIN_READ_BYTES_PER_S; a body that trickles on past that is cut off', async () => {
  expect(readDeadlineMs(4 * 1024 * 1024)).toBe(READ_HEADERS_MS + (4 * 1024 * 1024 * 1000) / MIN_READ_BYTES_PER_S);
  const clock = manualClock();
  const max = 64 * 1_024;
  const read = fetchAtMost(`${base}/trickle`, max, { clock });
  read.catch(() => {});
  // Bytes are arriving: the read is under way, within its bound, and not done.
  await expect.poll(() => trickle.bytes).toBeGreaterThan(10);
  clock.advance(readDeadlineMs(max) - 1);
  expect(trickle.closed).toBe(false);
  clock.advance(1);
  await expect(read).rejects.toThrow(`${base}/trickle took over ${readDeadlineMs(max)} ms to read`);
  await expect.poll(() => trickle.closed).toBe(true);
  expect(trickle.bytes).toBeLessThan(TRICKLE_MAX_BYTES);
  expect(clock.pending()).toBe(0);
});

test("the caller's own signal still aborts a read, with its own reason, and drops the deadline's timer", async () => {
  const clock = manualClock();
  const stop = new AbortController();
  const read = fetchAtMost(`${base}/endless`, 1 << 30, { clock, signal: stop.signal });
  stop.abort(new Error('the volunteer pressed Stop'));
  await expect(read).rejects.toThrow('the volunteer pressed Stop');
  expect(clock.pending()).toBe(0);
});
