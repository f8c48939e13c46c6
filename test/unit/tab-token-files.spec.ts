// The token files a round names by hash: fetched from the seed's HTTP server at most once (then
// from the store), checked against the hash, and bounded: one over MAX_TOKEN_FILE_BYTES refuses the
// round, whether its length is declared or it just keeps coming.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test } from '@playwright/test';
import { memoryPieceStore, sha256Hex } from '../../src/swarm';
import { MAX_TOKEN_FILE_BYTES, RoundRefusedError } from '../../src/tab';
import { tokenFile } from '../../src/tab/participant';

const bytesOf = (n: number) => Uint8Array.from({ length: n }, (_, i) => i & 0xff);
/** What the server writes at a time: every chunk starts at a multiple of 256, so all are this pattern. */
const CHUNK = 1024 * 1024;
const PATTERN = Buffer.from(bytesOf(CHUNK));
/** Bytes the server sent for the last request. */
let sent = 0;
let server: Server;
let base: string;

/** Answers `GET /<bytes>[?chunked]` with that many bytes, each the low byte of its index; chunked ones declare no length. */
test.beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const total = Number(url.pathname.slice(1));
    if (!url.searchParams.has('chunked')) res.setHeader('content-length', total);
    sent = 0;
    const write = () => {
      while (sent < total) {
        const n = Math.min(CHUNK, total - sent);
        sent += n;
        if (!res.write(PATTERN.subarray(0, n))) return void res.once('drain', write);
      }
      res.end();
    };
    write();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.afterAll(async () => {
  server.closeAllConnections();
  server.close();
});

test('a token file within the bound is fetched, checked, stored, and read from the store after', async () => {
  const store = memoryPieceStore();
  const hash = await sha256Hex(bytesOf(4096));
  const tokens = await tokenFile(base, '/4096', hash, store, 3);
  expect(tokens).toHaveLength(2048);
  expect(tokens[1]).toBe(0x0302);
  expect(await store.has(hash)).toBe(true);
  // Kept: asked again (at a path that would serve nothing), it comes from the store.
  expect(await tokenFile(base, '/0', hash, store, 4)).toEqual(tokens);
  await expect(tokenFile(base, '/4096', 'ab'.repeat(32), memoryPieceStore(), 3)).rejects.toThrow(
    "/4096 does not match the round manifest's sha256",
  );
});

test('a token file over MAX_TOKEN_FILE_BYTES refuses the round: by its declared length, or once its bytes pass the bound', async () => {
  for (const path of [`/${MAX_TOKEN_FILE_BYTES + 1}`, `/${4 * MAX_TOKEN_FILE_BYTES}?chunked`]) {
    const e = await tokenFile(base, path, 'ab'.repeat(32), memoryPieceStore(), 3).catch((err: unknown) => err);
    expect(e, path).toBeInstanceOf(RoundRefusedError);
    expect((e as Error).message).toBe(`round 3 refused: ${path} is over the bound of ${MAX_TOKEN_FILE_BYTES} bytes`);
    // The rest was not read: the server stopped well short of the whole file.
    expect(sent, path).toBeLessThan(MAX_TOKEN_FILE_BYTES + 16 * CHUNK);
  }
});
