// The piece pull protocol over in-memory stream pairs: the server's replies and refusals, the
// requester's limits, the request codec, and the seed's super-seeding admission policy.
import '../../src/seed/promise-shim';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { lpStream, streamPair } from '@libp2p/utils';
import { expect, test } from '@playwright/test';
import { fromUtf8, sha256Hex, utf8 } from '../../src/swarm/bytes';
import {
  MAX_CONCURRENT_UPLOADS,
  MAX_PIECE_REPLY_BYTES,
  MAX_PIECE_REQUEST_BYTES,
  MAX_REFERRAL_BYTES,
  MAX_REFERRED_HOLDERS,
  MAX_UPLOADS_PER_PEER,
  PIECE_BYTES,
} from '../../src/swarm/limits';
import { pieceRange, type WeightsManifest } from '../../src/swarm/manifest';
import {
  decodePieceRequest,
  decodeReferral,
  encodePieceRequest,
  encodeReferral,
  memoryPieceStore,
  PieceProtocolError,
  type PieceRequest,
  PieceStatus,
  type PieceStore,
  pieceServer,
  requestPiece,
  superSeeding,
  type UploadPolicy,
  type UploadStats,
} from '../../src/swarm/pieces';
import { createRandom } from '../../src/util/random';

/** A small fake manifest: 2.5 pieces of deterministic bytes (the server only reads pieces, sizes and hashes). */
const TOTAL = 2 * PIECE_BYTES + PIECE_BYTES / 2;
const MANIFEST_ID = 'ab'.repeat(32);
const OTHER_ID = 'cd'.repeat(32);

let manifest: WeightsManifest;
let vector: Uint8Array;
let alice: PeerId;
let bob: PeerId;
/** MAX_CONCURRENT_UPLOADS more peers, each asking within its own budget. */
const crowd: PeerId[] = [];

test.beforeAll(async () => {
  vector = new Uint8Array(TOTAL);
  // Random bytes, so that no two pieces are equal (the store is keyed by hash).
  const next = createRandom(11);
  for (let i = 0; i < TOTAL; i++) vector[i] = Math.floor(next() * 256);
  const pieces: string[] = [];
  const m = { pieceBytes: PIECE_BYTES, totalBytes: TOTAL } as WeightsManifest;
  for (let i = 0; i < 3; i++) pieces.push(await sha256Hex(vector.subarray(...pieceRange(m, i))));
  manifest = {
    kind: 'vgpu/weights',
    version: 1,
    name: 'fake',
    model: { vocab: 1, context: 1, layers: 1, heads: 1, width: 1 },
    layoutVersion: 1,
    totalBytes: TOTAL,
    pieceBytes: PIECE_BYTES,
    pieces,
    sha256: await sha256Hex(vector),
  };
  alice = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  bob = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  for (let i = 0; i < MAX_CONCURRENT_UPLOADS; i++) crowd.push(peerIdFromPrivateKey(await generateKeyPair('Ed25519')));
});

const piece = (i: number) => vector.subarray(...pieceRange(manifest, i));

/** Byte equality, fast (a deep toEqual on a megabyte takes seconds). */
function expectPiece(got: Uint8Array, i: number): void {
  expect(got.length, `piece ${i} length`).toBe(piece(i).length);
  expect(Buffer.compare(got, piece(i)), `piece ${i} bytes`).toBe(0);
}

async function fullStore(): Promise<PieceStore> {
  const store = memoryPieceStore();
  for (const [i, hash] of manifest.pieces.entries()) await store.put(hash, piece(i));
  return store;
}

/** A full store whose reads wait until `release()`: the uploads stay in progress; `waiting()` counts them. */
async function gatedStore(): Promise<{ store: PieceStore; waiting(): number; release(): void }> {
  const inner = await fullStore();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let waiting = 0;
  const store: PieceStore = {
    ...inner,
    get: async (h) => {
      waiting++;
      await gate;
      return inner.get(h);
    },
  };
  return { store, waiting: () => waiting, release };
}

/** Just what the handler reads of a connection: the remote peer. */
const fakeConnection = (peer: PeerId) => ({ remotePeer: peer }) as unknown as Connection;

/** Opens a fresh stream pair and hands its inbound end to `handler`; returns the outbound end and the handler's run. */
async function open(handler: StreamHandler, peer: PeerId = alice): Promise<{ stream: Stream; handled: Promise<void> }> {
  const [outbound, inbound] = await streamPair();
  return { stream: outbound, handled: Promise.resolve(handler(inbound, fakeConnection(peer))) };
}

interface Server {
  handler: StreamHandler;
  stats: UploadStats;
  refusals: { peer: string; status: PieceStatus; reason: string }[];
}

async function server(overrides: { store?: PieceStore; policy?: UploadPolicy } = {}): Promise<Server> {
  const stats: UploadStats = { uploadedBytes: 0, piecesServed: 0, refused: 0 };
  const refusals: Server['refusals'] = [];
  const store = overrides.store ?? (await fullStore());
  const handler = pieceServer({
    manifest: (id) => (id === MANIFEST_ID ? manifest : undefined),
    store,
    stats,
    policy: overrides.policy,
    onRefused: (peer, status, reason) => refusals.push({ peer, status, reason }),
  });
  return { handler, stats, refusals };
}

/** requestPiece through a fresh stream pair; waits for the handler to finish too. */
async function ask(s: Server, req: PieceRequest, peer: PeerId = alice): Promise<Uint8Array> {
  const { stream, handled } = await open(s.handler, peer);
  try {
    return await requestPiece(stream, req);
  } finally {
    await handled;
  }
}

/** The PieceProtocolError a request is refused with. */
async function refusal(p: Promise<unknown>): Promise<PieceProtocolError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a PieceProtocolError').toBeInstanceOf(PieceProtocolError);
  return e as PieceProtocolError;
}

/** Sends one raw frame on a fresh stream and returns the server's reply: status and text. */
async function rawExchange(s: Server, frame: Uint8Array): Promise<{ status: number; text: string }> {
  const { stream, handled } = await open(s.handler);
  const lp = lpStream(stream, { maxDataLength: MAX_PIECE_REPLY_BYTES });
  await lp.write(frame);
  const reply = (await lp.read()).subarray();
  stream.abort(new Error('test done'));
  await handled;
  return { status: reply[0]!, text: fromUtf8(reply.subarray(1)) };
}

test('a good request gets the exact bytes of each piece, the short last one included, and counts the upload', async () => {
  const s = await server();
  let bytes = 0;
  for (let i = 0; i < 3; i++) {
    const got = await ask(s, { manifest: MANIFEST_ID, index: i });
    expectPiece(got, i);
    bytes += got.length;
  }
  expect(bytes).toBe(TOTAL);
  expect(s.stats).toEqual({ uploadedBytes: TOTAL, piecesServed: 3, refused: 0 });
  expect(s.refusals).toEqual([]);
});

test('an unknown manifest, an index past the end and a piece the store lacks are answered NotFound', async () => {
  const store = memoryPieceStore();
  await store.put(manifest.pieces[0]!, piece(0));
  // The store holds piece 0 only, and a wrong-sized copy of piece 1.
  await store.put(manifest.pieces[1]!, piece(1).subarray(1));
  const s = await server({ store });
  const cases: [PieceRequest, string][] = [
    [
      { manifest: OTHER_ID, index: 0 },
      `piece 0 refused (status ${PieceStatus.NotFound}): no piece 0 of ${OTHER_ID.slice(0, 12)}`,
    ],
    [
      { manifest: MANIFEST_ID, index: 3 },
      `piece 3 refused (status ${PieceStatus.NotFound}): no piece 3 of ${MANIFEST_ID.slice(0, 12)}`,
    ],
    [
      { manifest: MANIFEST_ID, index: 1e9 },
      `piece 1000000000 refused (status ${PieceStatus.NotFound}): no piece 1000000000 of ${MANIFEST_ID.slice(0, 12)}`,
    ],
    [{ manifest: MANIFEST_ID, index: 1 }, `piece 1 refused (status ${PieceStatus.NotFound}): piece 1 not held`],
    [{ manifest: MANIFEST_ID, index: 2 }, `piece 2 refused (status ${PieceStatus.NotFound}): piece 2 not held`],
  ];
  for (const [req, message] of cases) {
    const e = await refusal(ask(s, req));
    expect(e.status).toBe(PieceStatus.NotFound);
    expect(e.message).toBe(message);
  }
  expect(s.stats).toEqual({ uploadedBytes: 0, piecesServed: 0, refused: cases.length });
  expect(s.refusals.map((r) => [r.peer, r.status])).toEqual(cases.map(() => [alice.toString(), PieceStatus.NotFound]));
  // The piece it does hold is still served.
  expectPiece(await ask(s, { manifest: MANIFEST_ID, index: 0 }), 0);
});

test('malformed requests get BadRequest with the reason, and the server then serves a good request', async () => {
  const s = await server();
  const oversize = utf8(JSON.stringify({ manifest: MANIFEST_ID, index: 0, pad: 'x'.repeat(MAX_PIECE_REQUEST_BYTES) }));
  const cases: [Uint8Array, string][] = [
    [utf8('hello'), 'bad request: request is not JSON'],
    [new Uint8Array(0), 'bad request: request is not JSON'],
    [new Uint8Array([0xff, 0xfe, 0x7b]), 'bad request: request is not JSON'],
    [utf8('null'), 'bad request: request is not a JSON object'],
    [utf8('"text"'), 'bad request: request is not a JSON object'],
    [
      utf8(JSON.stringify({ manifest: 'AB'.repeat(32), index: 0 })),
      'bad request: request: manifest must be a sha256 hex id',
    ],
    [
      utf8(JSON.stringify({ manifest: 'ab'.repeat(31), index: 0 })),
      'bad request: request: manifest must be a sha256 hex id',
    ],
    [
      utf8(JSON.stringify({ manifest: MANIFEST_ID, index: -1 })),
      'bad request: request: index must be a non-negative integer',
    ],
    [
      utf8(JSON.stringify({ manifest: MANIFEST_ID, index: 0.5 })),
      'bad request: request: index must be a non-negative integer',
    ],
    [
      utf8(JSON.stringify({ manifest: MANIFEST_ID, index: '0' })),
      'bad request: request: index must be a non-negative integer',
    ],
    [utf8(JSON.stringify({ manifest: MANIFEST_ID })), 'bad request: request: index must be a non-negative integer'],
    // Over the frame limit: refused from the length prefix, before the body is read.
    [oversize, `bad request: Message length too long - ${oversize.length} > ${MAX_PIECE_REQUEST_BYTES}`],
  ];
  for (const [i, [frame, text]] of cases.entries()) {
    expect(await rawExchange(s, frame), `case ${i}`).toEqual({ status: PieceStatus.BadRequest, text });
  }
  expect(s.stats.refused).toBe(cases.length);
  expect(s.refusals.every((r) => r.status === PieceStatus.BadRequest && r.peer === alice.toString())).toBe(true);
  // requestPiece surfaces a BadRequest as a PieceProtocolError carrying the status.
  const e = await refusal(ask(s, { manifest: MANIFEST_ID, index: -2 }));
  expect(e.status).toBe(PieceStatus.BadRequest);
  expect(e.message).toBe(
    `piece -2 refused (status ${PieceStatus.BadRequest}): bad request: request: index must be a non-negative integer`,
  );
  // Still serving.
  expectPiece(await ask(s, { manifest: MANIFEST_ID, index: 2 }), 2);
  expect(s.stats.piecesServed).toBe(1);
});

test('a requester that closes its stream without a request gets nothing, and the server keeps serving', async () => {
  const s = await server();
  const { stream, handled } = await open(s.handler);
  await stream.close();
  await handled; // must finish (not hang) and must not throw
  expect(s.stats.piecesServed).toBe(0);
  expectPiece(await ask(s, { manifest: MANIFEST_ID, index: 1 }), 1);
});

test('encodePieceRequest and decodePieceRequest round trip; decode refuses each malformed frame', () => {
  for (const req of [
    { manifest: MANIFEST_ID, index: 0 },
    { manifest: OTHER_ID, index: 1023 },
    { manifest: MANIFEST_ID, index: Number.MAX_SAFE_INTEGER },
  ]) {
    const bytes = encodePieceRequest(req);
    expect(bytes.length).toBeLessThanOrEqual(MAX_PIECE_REQUEST_BYTES);
    expect(decodePieceRequest(bytes)).toEqual(req);
  }
  // Extra fields are not carried over.
  expect(encodePieceRequest({ manifest: MANIFEST_ID, index: 4, extra: 1 } as PieceRequest)).toEqual(
    utf8(`{"manifest":"${MANIFEST_ID}","index":4}`),
  );
  expect(decodePieceRequest(utf8(`{"manifest":"${MANIFEST_ID}","index":4,"x":[1]}`))).toEqual({
    manifest: MANIFEST_ID,
    index: 4,
  });
  const bad: [Uint8Array, RegExp][] = [
    [
      new Uint8Array(MAX_PIECE_REQUEST_BYTES + 1),
      new RegExp(`^request is ${MAX_PIECE_REQUEST_BYTES + 1} bytes, over ${MAX_PIECE_REQUEST_BYTES}$`),
    ],
    [utf8('{'), /^request is not JSON$/],
    [utf8('[]'), /^request is not a JSON object$/],
    [utf8('{}'), /^request: manifest must be a sha256 hex id$/],
    [utf8(`{"manifest":"${MANIFEST_ID}","index":1e400}`), /^request: index must be a non-negative integer$/],
    [utf8(`{"manifest":"${MANIFEST_ID}","index":null}`), /^request: index must be a non-negative integer$/],
  ];
  for (const [bytes, message] of bad) {
    expect(() => decodePieceRequest(bytes)).toThrow(PieceProtocolError);
    expect(() => decodePieceRequest(bytes)).toThrow(message);
  }
});

test('requestPiece refuses a reply frame over MAX_PIECE_REPLY_BYTES, and an empty reply', async () => {
  // A rogue server: reads the request, then answers with one byte more than the limit allows.
  const rogue =
    (size: number): StreamHandler =>
    async (stream) => {
      const lp = lpStream(stream);
      try {
        await lp.read();
        await lp.write(new Uint8Array(size));
      } catch {
        // The requester aborts mid-frame; that is expected.
      }
    };
  const big = await open(rogue(MAX_PIECE_REPLY_BYTES + 1));
  await expect(requestPiece(big.stream, { manifest: MANIFEST_ID, index: 0 })).rejects.toThrow(
    `Message length too long - ${MAX_PIECE_REPLY_BYTES + 1} > ${MAX_PIECE_REPLY_BYTES}`,
  );
  expect(big.stream.status).not.toBe('open');
  await big.handled;
  // A frame of exactly the limit (status byte + a full piece) is fine.
  const full = await open(rogue(MAX_PIECE_REPLY_BYTES));
  expect((await requestPiece(full.stream, { manifest: MANIFEST_ID, index: 0 })).length).toBe(PIECE_BYTES);
  await full.handled;
  const empty = await open(rogue(0));
  const e = await refusal(requestPiece(empty.stream, { manifest: MANIFEST_ID, index: 0 }));
  expect(e.message).toBe('empty reply');
  expect(e.status).toBeUndefined();
  await empty.handled;
});

test('a server with MAX_CONCURRENT_UPLOADS requests in progress answers one more BUSY, then serves again', async () => {
  const { store: slow, waiting, release } = await gatedStore();
  const s = await server({ store: slow });
  const first = crowd.map((peer) => ask(s, { manifest: MANIFEST_ID, index: 2 }, peer));
  await expect.poll(waiting, { timeout: 10_000 }).toBe(MAX_CONCURRENT_UPLOADS);
  const e = await refusal(ask(s, { manifest: MANIFEST_ID, index: 2 }, bob));
  expect(e.status).toBe(PieceStatus.Busy);
  expect(s.refusals).toEqual([{ peer: bob.toString(), status: PieceStatus.Busy, reason: 'busy' }]);
  release();
  for (const got of await Promise.all(first)) expectPiece(got, 2);
  expectPiece(await ask(s, { manifest: MANIFEST_ID, index: 2 }, bob), 2);
  expect(s.stats).toEqual({
    uploadedBytes: (MAX_CONCURRENT_UPLOADS + 1) * piece(2).length,
    piecesServed: MAX_CONCURRENT_UPLOADS + 1,
    refused: 1,
  });
});

test('the admission policy runs per request: its refusal comes back as REFERRED, naming the tabs to ask', async () => {
  const asked: string[] = [];
  const settled: string[] = [];
  const aliceAddr = `/ip4/127.0.0.1/tcp/1/p2p/${bob}/p2p-circuit/webrtc/p2p/${alice}`;
  const s = await server({
    policy: {
      admit: (peer, req) => {
        asked.push(`${peer}/${req.index}`);
        return peer === bob.toString()
          ? { reason: 'go ask alice', referrals: [{ peer: alice.toString(), addrs: [aliceAddr], has: true }] }
          : undefined;
      },
      settle: (peer, req, delivered) => settled.push(`${peer}/${req.index}/${delivered}`),
    },
  });
  expectPiece(await ask(s, { manifest: MANIFEST_ID, index: 0 }), 0);
  const e = await refusal(ask(s, { manifest: MANIFEST_ID, index: 0 }, bob));
  expect(e.status).toBe(PieceStatus.Referred);
  expect(e.message).toBe('piece 0 referred elsewhere: go ask alice');
  expect(e.referrals).toEqual([{ peer: alice.toString(), addrs: [aliceAddr], has: true }]);
  // Requests that fail earlier checks never reach the policy.
  await refusal(ask(s, { manifest: OTHER_ID, index: 0 }, bob));
  expect(asked).toEqual([`${alice}/0`, `${bob}/0`]);
  // Only admitted requests settle, with whether their reply went out whole.
  expect(settled).toEqual([`${alice}/0/true`]);
});

test(`one peer gets at most MAX_UPLOADS_PER_PEER (${MAX_UPLOADS_PER_PEER}) uploads at once; others are served meanwhile`, async () => {
  const { store: slow, waiting, release } = await gatedStore();
  const s = await server({ store: slow });
  const first = Array.from({ length: MAX_UPLOADS_PER_PEER }, () => ask(s, { manifest: MANIFEST_ID, index: 1 }));
  await expect.poll(waiting, { timeout: 10_000 }).toBe(MAX_UPLOADS_PER_PEER);
  const e = await refusal(ask(s, { manifest: MANIFEST_ID, index: 1 }));
  expect(e.status).toBe(PieceStatus.Busy);
  expect(e.message).toMatch(/at most 2 pieces at once per peer/);
  const other = ask(s, { manifest: MANIFEST_ID, index: 1 }, bob);
  await expect.poll(waiting, { timeout: 10_000 }).toBe(MAX_UPLOADS_PER_PEER + 1);
  release();
  for (const got of await Promise.all([...first, other])) expectPiece(got, 1);
  // Its slots are back once its uploads finished.
  expectPiece(await ask(s, { manifest: MANIFEST_ID, index: 1 }), 1);
});

test('superSeeding: one copy out per piece while its holder offers it, until the interval passes', () => {
  let clock = 1_000;
  const connected = new Set<string>(['A', 'B', 'C']);
  const offering = new Set<string>(['A', 'B', 'C']);
  const policy = superSeeding({
    intervalMs: 20_000,
    referralMs: 60_000,
    connected: (p) => connected.has(p),
    offers: (p) => connected.has(p) && offering.has(p),
    addrs: () => [],
    now: () => clock,
  });
  const p0 = { manifest: MANIFEST_ID, index: 0 };
  const offered = /^piece 0 is offered by \d tab\(s\): fetch it from them$/;
  expect(policy.admit('A', p0)).toBeUndefined(); // first request: admitted
  expect(policy.admit('B', p0)?.reason).toMatch(offered); // A is getting it
  policy.settle('A', p0, true);
  expect(policy.admit('C', p0)?.reason).toMatch(offered); // A holds it and offers it
  expect(policy.admit('A', p0)).toBeUndefined(); // the holder asking again (a retry) is admitted
  policy.settle('A', p0, true);
  // Other pieces and other manifests are independent.
  expect(policy.admit('B', { manifest: MANIFEST_ID, index: 1 })).toBeUndefined();
  expect(policy.admit('B', { manifest: OTHER_ID, index: 0 })).toBeUndefined();
  // A holder that keeps quiet is no reason to send anyone away.
  offering.delete('A');
  expect(policy.admit('B', p0)).toBeUndefined();
  policy.settle('B', p0, true);
  expect(policy.admit('C', p0)?.reason).toMatch(offered); // B offers it
  // The interval runs from the first copy: just before it ends a new asker is still referred, then admitted.
  clock = 1_000 + 19_999;
  connected.add('D');
  offering.add('D');
  expect(policy.admit('D', p0)?.reason).toMatch(offered);
  clock = 1_000 + 20_000;
  expect(policy.admit('D', p0)).toBeUndefined();
  policy.settle('D', p0, true);
  // A new interval started with D as the one holder; D leaves: nobody is referred.
  expect(policy.admit('C', p0)?.reason).toMatch(offered);
  connected.delete('D');
  expect(policy.admit('C', p0)).toBeUndefined();
});

test('superSeeding: a copy that never went out whole does not count', () => {
  const policy = superSeeding({
    intervalMs: 60_000,
    referralMs: 60_000,
    connected: () => true,
    offers: () => true,
    addrs: () => [],
    now: () => 0,
  });
  const p0 = { manifest: MANIFEST_ID, index: 0 };
  expect(policy.admit('A', p0)).toBeUndefined();
  policy.settle('A', p0, false); // A stopped reading: the send timed out
  expect(policy.admit('B', p0)).toBeUndefined();
});

test('superSeeding: a holder that offers a piece and never serves it costs an asker referralMs at most', () => {
  let clock = 0;
  const policy = superSeeding({
    intervalMs: 60_000,
    referralMs: 3_000,
    connected: () => true,
    offers: () => true,
    addrs: () => [],
    now: () => clock,
  });
  const p0 = { manifest: MANIFEST_ID, index: 0 };
  const take = (peer: string) => {
    expect(policy.admit(peer, p0)).toBeUndefined();
    policy.settle(peer, p0, true);
  };
  take('attacker');
  // B asks again and again: referred until referralMs has passed since its first BUSY, then served.
  for (clock = 1_000; clock < 4_000; clock += 1_000) expect(policy.admit('B', p0)?.reason).toMatch(/offered by 1/);
  take('B');
  // C asks rarely: its referral clock runs from its first BUSY; renewing the copy buys the attacker nothing.
  clock = 50_000;
  expect(policy.admit('C', p0)?.reason).toMatch(/offered by 2/);
  clock = 52_999;
  expect(policy.admit('C', p0)?.reason).toMatch(/offered by 2/);
  clock = 53_000;
  expect(policy.admit('C', p0)).toBeUndefined();
});

test(`superSeeding: a referral names up to MAX_REFERRED_HOLDERS (${MAX_REFERRED_HOLDERS}) tabs with their addresses, holders first, each referral starting one further along`, () => {
  const tabs = Array.from({ length: MAX_REFERRED_HOLDERS + 2 }, (_, i) => `T${i}`);
  let clock = 0;
  const policy = superSeeding({
    intervalMs: 60_000,
    referralMs: 1_000,
    connected: () => true,
    offers: (p) => p !== 'sending',
    addrs: (p) => [`addr of ${p}`],
    now: () => clock,
  });
  const p0 = { manifest: MANIFEST_ID, index: 0 };
  // Each tab is referred at first, and served once its referral ran out: six holders.
  for (const t of tabs) {
    policy.admit(t, p0);
    clock += 1_000;
    expect(policy.admit(t, p0)).toBeUndefined();
    policy.settle(t, p0, true);
  }
  expect(policy.admit('sending', { manifest: MANIFEST_ID, index: 2 })).toBeUndefined(); // in flight to it
  const named = (asker: string) => policy.admit(asker, p0)!.referrals;
  const first = named('X');
  expect(first).toHaveLength(MAX_REFERRED_HOLDERS);
  expect(first.every((r) => r.has && r.addrs[0] === `addr of ${r.peer}` && tabs.includes(r.peer))).toBe(true);
  // Askers spread: over a few referrals every holder is named, and no asker is sent to itself.
  const seen = new Set<string>();
  for (const asker of ['Y', 'Z', 'W', 'V', 'U', 'T0']) for (const r of named(asker)) seen.add(r.peer);
  expect([...seen].sort()).toEqual([...tabs].sort());
  expect(named('T0').some((r) => r.peer === 'T0')).toBe(false);
  // A tab the piece is being sent to is named too, as one that does not have it yet.
  expect(policy.admit('other', { manifest: MANIFEST_ID, index: 2 })!.referrals).toEqual([
    { peer: 'sending', has: false, addrs: ['addr of sending'] },
  ]);
});

test('decodeReferral keeps what checks out and never throws: bad peer ids, addresses of another peer, excess holders and garbage refer nowhere', () => {
  const addr = (relay: PeerId, peer: PeerId) => `/ip4/10.0.0.1/tcp/9/p2p/${relay}/p2p-circuit/webrtc/p2p/${peer}`;
  const good = { peer: alice.toString(), addrs: [addr(bob, alice)], has: true };
  const body = (holders: unknown[], reason: unknown = 'fetch it from them') =>
    utf8(JSON.stringify({ reason, holders }));
  expect(decodeReferral(encodeReferral({ reason: 'r', referrals: [good] }))).toEqual({
    reason: 'r',
    referrals: [good],
  });
  // Entries that fail a check are dropped; the rest stay.
  const mixed = decodeReferral(
    body([
      { peer: 'not a peer id', addrs: [], has: true },
      { peer: alice.toString(), addrs: [addr(alice, bob), '/not/a/multiaddr/p2p/x', 7], has: false },
      { peer: bob.toString(), addrs: [], has: 'yes' },
      good,
    ]),
  );
  expect(mixed.referrals).toEqual([{ peer: alice.toString(), addrs: [], has: false }, good]);
  // At most MAX_REFERRED_HOLDERS entries are read.
  expect(decodeReferral(body(Array.from({ length: 50 }, () => good))).referrals).toHaveLength(MAX_REFERRED_HOLDERS);
  // Not JSON, not an object, oversized, a reason that is not text: no referrals, no throw.
  for (const bytes of [
    utf8('busy'),
    utf8('[1,2]'),
    new Uint8Array(MAX_REFERRAL_BYTES + 1).fill(0x20),
    body([good], { long: 'x' }),
    body([null, 5, 'x', []]),
  ]) {
    const r = decodeReferral(bytes);
    expect(typeof r.reason).toBe('string');
    expect(r.referrals).toEqual(r.reason === '' ? [good] : []);
  }
});
