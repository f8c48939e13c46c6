// The seed's byte counters (status().sentBytes) and its weight pieces over plain HTTP: a seed on
// loopback, an HTTP client and an ordinary Node libp2p peer; every count must grow by at least the
// payload it carried, and the connection-level libp2p count by more (framing and encryption).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { DEFAULT_FED_SETTINGS } from '../../src/fed';
import { type Seed, startSeed } from '../../src/seed';
import { PIECE_PROTOCOL, pieceRange, requestPiece, sha256Hex } from '../../src/swarm';
import { createAttacker, openStream } from '../harness/attacker';

let dir: string;
let seed: Seed;

test.beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vgpu-seed-traffic-'));
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>volunteer</title>');
  // A short validation context: the seed evaluates the model when it starts, which is not looked at here.
  const hyper = { ...DEFAULT_FED_SETTINGS.hyper, context: 16 };
  seed = await startSeed({ runDir: join(dir, 'run'), model: 'tiny', appDir: dir, fed: { hyper } });
});

test.afterAll(async () => {
  await seed?.stop();
  await rm(dir, { recursive: true, force: true });
});

const pieceUrl = (hash: string) => new URL(`/weights/${hash}`, seed.url);

test('HTTP: every response counts whole, headers included', async () => {
  const before = seed.status().sentBytes.http;
  const body = new Uint8Array(await (await fetch(new URL('/status.json', seed.url))).arrayBuffer());
  const after = seed.status().sentBytes.http;
  expect(after - before).toBeGreaterThan(body.length);
  // A HEAD still sends its status line and headers.
  await fetch(new URL('/status.json', seed.url), { method: 'HEAD' });
  expect(seed.status().sentBytes.http).toBeGreaterThan(after);
});

test("the weight pieces over HTTP: /weights/<piece sha256> is that piece of the manifest's vector; anything else 404", async () => {
  const { value } = seed.manifest;
  const last = value.pieces.length - 1;
  const hash = value.pieces[last]!;
  const before = seed.status().sentBytes.http;
  const res = await fetch(pieceUrl(hash));
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/octet-stream');
  expect(res.headers.get('access-control-allow-origin')).toBe('*');
  const piece = new Uint8Array(await res.arrayBuffer());
  expect(piece).toEqual(new Uint8Array(seed.weights.buffer).subarray(...pieceRange(value, last)));
  expect(await sha256Hex(piece)).toBe(hash);
  expect(seed.status().sentBytes.http - before).toBeGreaterThan(piece.length);
  for (const path of ['0'.repeat(64), hash.toUpperCase(), hash.slice(1), `${hash}/0`, `${hash}0`, ''])
    expect((await fetch(pieceUrl(path))).status, path).toBe(404);
});

test('libp2p: connection bytes include every stream and its framing; streams count by protocol', async () => {
  const before = seed.status().sentBytes;
  const peer = await createAttacker();
  try {
    const { id, value } = seed.manifest;
    const piece = await requestPiece(await openStream(peer, seed, PIECE_PROTOCOL), { manifest: id, index: 0 });
    expect(piece.length).toBe(pieceRange(value, 0)[1]);
    const after = seed.status().sentBytes;
    const streams = (s: Record<string, number>, protocol: string) => s[protocol] ?? 0;
    // The reply: a length prefix, a status byte and the piece.
    expect(
      streams(after.libp2pStreams, PIECE_PROTOCOL) - streams(before.libp2pStreams, PIECE_PROTOCOL),
    ).toBeGreaterThan(piece.length + 1);
    const streamBytes = (s: Record<string, number>) => Object.values(s).reduce((a, b) => a + b, 0);
    expect(after.libp2p - before.libp2p).toBeGreaterThan(
      streamBytes(after.libp2pStreams) - streamBytes(before.libp2pStreams),
    );
  } finally {
    await peer.stop();
  }
});
