// Reading HTTP from a party that may be hostile (src/util/read-at-most.ts): a body over the bound is
// refused whether its content-length says so or it only streams on (chunked, no length); the rest is
// left unread.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test } from '@playwright/test';
import { fetchAtMost, fetchJsonAtMost, fetchJsonAtMostIfAny } from '../../src/util/read-at-most';

let server: Server;
let base: string;
/** Chunks the endless route wrote before the client hung up. */
let endlessChunks = 0;

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
