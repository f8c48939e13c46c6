// A broken or hostile seed, as a tab meets it (issue 13, items 11 and 13): real seeds, and the tab's
// own code (the fetcher, the download path, the participant) run in Node over an ordinary libp2p peer.
// - Corrupted weights: the seed's piece store returns wrong bytes (the test flips bits in the seed's
//   copy of the weights, which its stored pieces are views of). A fetch ends with
//   SeedServesCorruptPiecesError at the MAX_SEED_CORRUPT_PIECES-th corrupted piece instead of asking
//   again forever, and the participant tells the page and leaves the seed alone SEED_CORRUPT_RETRY_MS.
// - Absurd round settings: a seed with such settings refuses to start (test/unit/seed.spec.ts), so the
//   hostile seed here is a real one whose key signs a forged round (as modified code would) served at
//   its /round.json. The tab's check refuses it, naming the field; the participant neither downloads
//   nor trains it, and tells the page. A sane round passes.
// - A forged round delta (fed/round-delta.ts), in a round signed by the seed's key: one that rebuilds
//   other weights than the round's signed ones, and one signed by another key. The tab refuses each,
//   says why, and downloads the whole weights instead. A forged second moment (another key's, or one
//   for another model): the tab does not train the round.
// - A hostile grid schedule (issue 19): a /grid.json that streams on past MAX_GRID_BYTES, or whose
//   figures are past the schedule's bounds, is refused before any of it is believed.
import { readFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import {
  DEFAULT_FED_SETTINGS,
  encodeUpdate,
  MIN_REISSUE_MS,
  secondMomentLength,
  signDeltaManifest,
  signMomentManifest,
  signRoundManifest,
  verifyRoundManifest,
} from '../../src/fed';
import { GridScheduleError, MAX_GCO2_PER_KWH, MAX_GRID_BYTES, MAX_GRID_REGIONS } from '../../src/fed/grid';
import type { Seed } from '../../src/seed';
import { memoryProgressStore } from '../../src/storage';
import {
  fetchPieces,
  MAX_SEED_CORRUPT_PIECES,
  memoryPieceStore,
  PIECE_BYTES,
  PIECE_PROTOCOL,
  PIECE_REQUEST_TIMEOUT_MS,
  type PieceStore,
  requestPiece,
  SeedServesCorruptPiecesError,
  type SignedDocument,
  type SwarmClient,
} from '../../src/swarm';
import { emptyBitfield } from '../../src/swarm/announce';
import { type Downloads, startDownloads } from '../../src/swarm/downloads';
import {
  admitRound,
  DEFAULT_SETTINGS,
  initialState,
  MAX_ROUND_BATCH_SIZE,
  type ParticipantEvent,
  RoundRefusedError,
  reduce,
  runParticipant,
  SEED_CORRUPT_RETRY_MS,
} from '../../src/tab';
import { fetchGridSchedule } from '../../src/tab/grid-schedule';
import type { Trainer } from '../../src/trainer';
import { failure } from '../../src/ui/view';
import { type Attacker, createAttacker, dialSeed, openStream, startTestSeed } from '../harness/attacker';
import { type ManualClock, manualClock } from '../harness/manual-clock';

/** The absurd setting: sequences per step, far past what a tab takes (MAX_ROUND_BATCH_SIZE). */
const ABSURD_BATCH = 100_000;

/** A seed with sane settings (the small model: 4 pieces), whose weights the corruption tests damage. */
let sane: { seed: Seed; clock: ManualClock; stop(): Promise<void> };
/** A seed (the tiny model) whose key the test uses to sign rounds asking for ABSURD_BATCH sequences per step. */
let absurd: { seed: Seed; clock: ManualClock; runDir: string; stop(): Promise<void> };

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  test.setTimeout(300_000);
  // Time starts now: the round deadlines the seeds sign are then near the tab's clock.
  const start = async (model: string, batchSize: number) => {
    const clock = manualClock(Date.now());
    const hyper = { ...DEFAULT_FED_SETTINGS.hyper, context: 16, batchSize };
    return { clock, ...(await startTestSeed({ model, clock, fed: { hyper } })) };
  };
  sane = await start('small', DEFAULT_FED_SETTINGS.hyper.batchSize);
  absurd = await start('tiny', DEFAULT_FED_SETTINGS.hyper.batchSize);
});

test.afterAll(async () => {
  await sane?.stop();
  await absurd?.stop();
});

/** Flips a bit in each of `pieces` of the sane seed's weights, as its store serves them; again to undo. */
function flipBits(pieces: number[]): void {
  const w = sane.seed.weights;
  const words = new Uint32Array(w.buffer, w.byteOffset, w.length);
  for (const i of pieces) words[(i * PIECE_BYTES) / 4]! ^= 1;
}

/** Fetches the sane seed's weights into `store` from the seed alone, as a tab does, over `peer`; logs what it asks. */
function fetchFromSeed(peer: Attacker, store: PieceStore, asked: number[]) {
  const m = sane.seed.manifest;
  const n = m.value.pieces.length;
  return fetchPieces({
    manifest: m,
    store,
    seed: sane.seed.peerId,
    holders: () => new Map(),
    own: { have: emptyBitfield(n), fetching: emptyBitfield(n) },
    request: async (_peer, index, signal) => {
      asked.push(index);
      const stream = await (await dialSeed(peer, sane.seed)).newStream(PIECE_PROTOCOL, { signal });
      return requestPiece(stream, { manifest: m.id, index }, { signal });
    },
  });
}

async function roundOf(seed: Seed) {
  return verifyRoundManifest(await (await fetch(new URL('/round.json', seed.url))).json(), seed.peerId);
}

/** The absurd seed's current round, changed to ask ABSURD_BATCH and assign `volunteers`, signed with its key. */
async function forgedRound(volunteers: string[] = []): Promise<SignedDocument> {
  const key = privateKeyFromProtobuf(await readFile(join(absurd.runDir, 'peer-key')));
  const m = (await roundOf(absurd.seed)).value;
  const assignments = Object.fromEntries(volunteers.map((v, i) => [v, i]));
  return signRoundManifest(key, peerIdFromPrivateKey(key), {
    ...m,
    hyper: { ...m.hyper, batchSize: ABSURD_BATCH },
    assignments,
  });
}

/** A hostile seed's page side: an HTTP server that answers `path` with `answer`, and 404 otherwise; its URL. */
async function servePath(path: string, answer: (res: ServerResponse) => void): Promise<{ url: string; close(): void }> {
  const server = createServer((req, res) => (req.url === path ? answer(res) : void res.writeHead(404).end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** /round.json answered with `round`. */
const serveRound = (round: () => Promise<SignedDocument>) =>
  servePath('/round.json', (res) => {
    void round().then((doc) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc)));
  });

/** /grid.json answered by `grid`. */
const serveGrid = (grid: (res: ServerResponse) => void) => servePath('/grid.json', grid);

test("a seed's /grid.json that streams on past MAX_GRID_BYTES is refused, and read no further than the bound", async () => {
  let written = 0;
  const chunk = Buffer.alloc(64 * 1024, ' ');
  // A bounded loop: at most four times the bound, unless the tab hangs up first.
  const seed = await serveGrid((res) => {
    res.write('{"kind":"vgpu/grid","version":1,"source":"');
    const more = () => {
      while (written < 4 * MAX_GRID_BYTES) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end('"}');
    };
    res.on('close', () => res.removeAllListeners('drain'));
    more();
  });
  try {
    await expect(fetchGridSchedule(seed.url)).rejects.toThrow(
      `${seed.url}grid.json is over the bound of ${MAX_GRID_BYTES} bytes`,
    );
    // Past the bound by what was in flight (socket buffers), not by what the seed would have sent.
    expect(written).toBeLessThan(2 * MAX_GRID_BYTES);
  } finally {
    seed.close();
  }
});

test("a seed's /grid.json with figures past the schedule's bounds is refused, naming what is wrong", async () => {
  const hour = Date.UTC(2026, 11, 1);
  const cases: [string, unknown, string][] = [
    [
      'an intensity past MAX_GCO2_PER_KWH',
      { DE: [{ start: hour, gCO2PerKWh: 1e9 }] },
      `grid schedule: region DE has a point without a start time or an intensity in [0, ${MAX_GCO2_PER_KWH}]`,
    ],
    [
      'more regions than MAX_GRID_REGIONS',
      Object.fromEntries(Array.from({ length: MAX_GRID_REGIONS + 1 }, (_, i) => [`Z${i}`, []])),
      `grid schedule: over ${MAX_GRID_REGIONS} regions`,
    ],
  ];
  for (const [what, regions, reason] of cases) {
    const body = JSON.stringify({ kind: 'vgpu/grid', version: 1, source: 'hostile', regions });
    const seed = await serveGrid((res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    try {
      const e = await fetchGridSchedule(seed.url).catch((err: unknown) => err);
      expect(e, what).toBeInstanceOf(GridScheduleError);
      expect((e as Error).message, what).toBe(reason);
    } finally {
      seed.close();
    }
  }
});

test("a seed's absurd round settings: its /round.json is refused by the tab's check, naming the field; a sane round passes", async () => {
  const round = await verifyRoundManifest(await forgedRound(), absurd.seed.peerId);
  expect(round.value.hyper.batchSize).toBe(ABSURD_BATCH);
  const e = await admitRound(round.value, absurd.seed.peerId, Date.now()).catch((err: unknown) => err);
  expect(e).toBeInstanceOf(RoundRefusedError);
  expect((e as RoundRefusedError).reason).toBe(
    `hyper.batchSize is ${ABSURD_BATCH}, over the bound of ${MAX_ROUND_BATCH_SIZE}`,
  );
  const ok = await roundOf(sane.seed);
  expect((await admitRound(ok.value, sane.seed.peerId, Date.now())).id).toBe(ok.value.weightsId);
});

test('a seed whose store serves corrupted pieces: the fetch fails with SeedServesCorruptPiecesError after exactly MAX_SEED_CORRUPT_PIECES', async () => {
  const m = sane.seed.manifest;
  const all = m.value.pieces.map((_, i) => i);
  const peer = await createAttacker();
  const store = memoryPieceStore();
  const asked: number[] = [];
  flipBits(all);
  try {
    const started = Date.now();
    const e = await fetchFromSeed(peer, store, asked).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(SeedServesCorruptPiecesError);
    expect(e).toMatchObject({ seed: sane.seed.peerId, manifest: m.id, corruptPieces: MAX_SEED_CORRUPT_PIECES });
    // Asked exactly that many times (no retry past it), nothing stored, and no request ran out its time.
    expect(asked).toHaveLength(MAX_SEED_CORRUPT_PIECES);
    for (const hash of m.value.pieces) expect(await store.has(hash)).toBe(false);
    expect(Date.now() - started).toBeLessThan(PIECE_REQUEST_TIMEOUT_MS);
  } finally {
    flipBits(all);
    await peer.stop();
  }
});

test('a seed with one damaged piece: the tab asks for it again once, gets the same bad bytes, and gives up; good pieces are kept', async () => {
  const m = sane.seed.manifest;
  const damaged = 1;
  const peer = await createAttacker();
  const store = memoryPieceStore();
  const asked: number[] = [];
  flipBits([damaged]);
  try {
    const started = Date.now();
    const e = await fetchFromSeed(peer, store, asked).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(SeedServesCorruptPiecesError);
    expect((e as SeedServesCorruptPiecesError).corruptPieces).toBe(MAX_SEED_CORRUPT_PIECES);
    expect(asked.filter((i) => i === damaged)).toHaveLength(MAX_SEED_CORRUPT_PIECES);
    expect(await store.has(m.value.pieces[damaged]!)).toBe(false);
    // Whatever else arrived was whole (the store holds only verified pieces), and each was asked once at
    // most (a request in flight when the fetch gave up is ended, its piece not kept).
    for (const [i, hash] of m.value.pieces.entries()) {
      if (i === damaged) continue;
      const times = asked.filter((j) => j === i).length;
      expect(times).toBeLessThanOrEqual(1);
      if (await store.has(hash)) expect(times).toBe(1);
    }
    expect(Date.now() - started).toBeLessThan(PIECE_REQUEST_TIMEOUT_MS);
  } finally {
    flipBits([damaged]);
    await peer.stop();
  }
});

/** A trainer the participant must not reach: each call is recorded, and fails. */
function untouchedTrainer(calls: string[]): Trainer {
  return new Proxy({} as Trainer, {
    get: (_target, name) => async () => {
      calls.push(String(name));
      throw new Error('the trainer was reached');
    },
  });
}

/**
 * Runs the tab's participant against `s` (joined as a Node peer, its download path the tab's own)
 * until it reports an event `until` accepts; returns its events, its downloads and its trainer calls.
 */
async function participate(
  s: typeof sane,
  until: (e: ParticipantEvent) => boolean,
  forged?: (self: string) => Promise<SignedDocument>,
  prepare?: (tab: { downloads: Downloads; store: PieceStore }) => Promise<void>,
) {
  const peer = await createAttacker();
  const page = forged ? await serveRound(() => forged(peer.peerId.toString())) : undefined;
  const store = memoryPieceStore();
  const downloads = await startDownloads({
    node: peer,
    store,
    seed: s.seed.peerId,
    signer: s.seed.peerId,
    announcements: {
      announce: () => {},
      forget: () => {},
      changed: () => {},
      holders: () => new Map(),
      referred: () => {},
    },
    reachable: () => false,
    learn: () => {},
    connection: () => dialSeed(peer, s.seed),
    warn: () => {},
  });
  await prepare?.({ downloads, store });
  let downloadCalls = 0;
  const client: Pick<
    SwarmClient,
    'peerId' | 'seed' | 'download' | 'fetchBytes' | 'held' | 'adopt' | 'seedStream' | 'subscribeToSeed'
  > = {
    peerId: peer.peerId.toString(),
    seed: s.seed.info(),
    download: (...args) => {
      downloadCalls++;
      return downloads.download(...args);
    },
    fetchBytes: downloads.fetchBytes,
    held: downloads.held,
    adopt: downloads.adopt,
    seedStream: (protocol) => openStream(peer, s.seed, protocol),
    subscribeToSeed: () => {}, // the participant polls /round.json as well
  };
  const trainerCalls: string[] = [];
  const events: ParticipantEvent[] = [];
  const controller = new AbortController();
  const running = runParticipant({
    client: client as SwarmClient,
    seedUrl: page?.url ?? s.seed.url,
    trainer: untouchedTrainer(trainerCalls),
    storage: { ...memoryProgressStore(), pieces: store },
    onEvent: (e) => events.push(e),
    signal: controller.signal,
  });
  try {
    // Joined into a round that assigns nobody: the seed issues it again with us in it after MIN_REISSUE_MS.
    await expect.poll(() => events.some((e) => e.type === 'joined'), { timeout: 30_000 }).toBe(true);
    s.clock.advance(MIN_REISSUE_MS);
    await expect.poll(() => events.some(until), { timeout: 60_000 }).toBe(true);
  } finally {
    controller.abort();
    await running;
    await downloads.stop();
    await peer.stop();
    page?.close();
  }
  const view = events.reduce(reduce, initialState(s.seed.url, { settings: DEFAULT_SETTINGS, receipts: [], gpuMs: 0 }));
  return { events, downloadCalls, trainerCalls, failure: failure(view) };
}

test('the participant meets a seed serving corrupted weights: the page says so, and the tab leaves the seed alone', async () => {
  const all = sane.seed.manifest.value.pieces.map((_, i) => i);
  flipBits(all);
  try {
    const run = await participate(sane, (e) => e.type === 'seed-corrupt');
    expect(run.events.filter((e) => e.type === 'error')).toEqual([]);
    expect(run.events.at(-1)).toEqual({
      type: 'seed-corrupt',
      corruptPieces: MAX_SEED_CORRUPT_PIECES,
      retryInMs: SEED_CORRUPT_RETRY_MS,
    });
    expect(run.downloadCalls).toBe(1);
    expect(run.trainerCalls).toEqual([]);
    expect(run.failure).toBe(
      `Not training: the seed served ${MAX_SEED_CORRUPT_PIECES} corrupted pieces of the weights; it is broken or hostile — contact the researcher (trying again in ${SEED_CORRUPT_RETRY_MS / 60_000} min).`,
    );
  } finally {
    flipBits(all);
  }
});

test('the participant meets a round past its bounds: it neither downloads nor trains it, and the page says why', async () => {
  const run = await participate(
    absurd,
    (e) => e.type === 'round-refused',
    (self) => forgedRound([self]),
  );
  const reason = `hyper.batchSize is ${ABSURD_BATCH}, over the bound of ${MAX_ROUND_BATCH_SIZE}`;
  const refused = run.events.find((e) => e.type === 'round-refused');
  expect(refused).toMatchObject({ type: 'round-refused', reason });
  expect(run.events.some((e) => e.type === 'fetching' || e.type === 'error')).toBe(false);
  expect(run.downloadCalls).toBe(0);
  expect(run.trainerCalls).toEqual([]);
  expect(run.failure).toBe(
    `Not training: the seed's round ${(refused as { round: number }).round} asks more than this tab allows (${reason}), so it was not trained; the seed is misconfigured or hostile — contact the researcher.`,
  );
});

/**
 * The absurd seed's current round with sane settings, assigning `self`, carrying a delta from its
 * weights to themselves that changes them (so it rebuilds other weights than the signed ones),
 * signed by `deltaSigner` (default: the seed's key). The round is signed by the seed's key. The
 * delta's pieces are put in the tab's store, and the tab holds the weights the delta starts from.
 */
async function forgedDelta(deltaSigner?: PrivateKey) {
  const key = privateKeyFromProtobuf(await readFile(join(absurd.runDir, 'peer-key')));
  const signer = deltaSigner ?? key;
  const m = (await roundOf(absurd.seed)).value;
  const codec = DEFAULT_FED_SETTINGS.deltaCodec!;
  const change = absurd.seed.weights.map((_, i) => (i % 7 === 0 ? 1e-3 : 0));
  const bytes = encodeUpdate(change, codec);
  const delta = await signDeltaManifest(signer, peerIdFromPrivateKey(signer), {
    from: m.weightsId,
    to: m.weightsId,
    codec,
    bytes,
  });
  const prepare = async (tab: { downloads: Downloads; store: PieceStore }) => {
    await tab.downloads.download(m.weights);
    const { pieces, pieceBytes } = JSON.parse(delta.body) as { pieces: string[]; pieceBytes: number };
    for (const [i, hash] of pieces.entries())
      await tab.store.put(hash, bytes.slice(i * pieceBytes, (i + 1) * pieceBytes));
  };
  let round: Promise<SignedDocument> | undefined;
  const forged = (self: string) =>
    (round ??= signRoundManifest(key, peerIdFromPrivateKey(key), { ...m, assignments: { [self]: 0 }, delta }));
  return { forged, prepare };
}

test("a seed's delta that rebuilds other weights than the round's signed ones is refused, and the tab downloads the whole weights instead", async () => {
  const { forged, prepare } = await forgedDelta();
  const run = await participate(absurd, (e) => e.type === 'error', forged, prepare);
  const refused = run.events.find((e) => e.type === 'delta-refused');
  expect(refused).toMatchObject({ reason: expect.stringMatching(/^weights rebuilt here do not match .*'s sha256$/) });
  expect(run.events.some((e) => e.type === 'delta')).toBe(false);
  // The whole weights instead (held already: nothing over the network), then training began.
  expect(run.downloadCalls).toBe(1);
  expect(run.trainerCalls[0]).toBe('init');
});

test("a delta signed by another key than the run's is refused before it is fetched; the tab downloads the whole weights", async () => {
  const other = await generateKeyPair('Ed25519');
  const { forged, prepare } = await forgedDelta(other);
  const run = await participate(absurd, (e) => e.type === 'error', forged, prepare);
  expect(run.events.find((e) => e.type === 'delta-refused')).toMatchObject({
    reason: `signed document: signed by ${peerIdFromPrivateKey(other)}, expected ${absurd.seed.peerId}`,
  });
  expect(run.downloadCalls).toBe(1);
  expect(run.trainerCalls[0]).toBe('init');
});

/**
 * The absurd seed's current round with sane settings, assigning `self`, naming a second moment for
 * `parameters` parameters signed by `momentSigner`; the round is signed by the seed's key.
 */
async function forgedMoment(momentSigner: PrivateKey, parameters: number) {
  const key = privateKeyFromProtobuf(await readFile(join(absurd.runDir, 'peer-key')));
  const m = (await roundOf(absurd.seed)).value;
  const codes = new Uint8Array(secondMomentLength(parameters)).fill(200);
  const secondMoment = await signMomentManifest(momentSigner, peerIdFromPrivateKey(momentSigner), codes, parameters);
  let round: Promise<SignedDocument> | undefined;
  return (self: string) =>
    (round ??= signRoundManifest(key, peerIdFromPrivateKey(key), { ...m, assignments: { [self]: 0 }, secondMoment }));
}

test("a round's second moment signed by another key, or made for another model, is refused: the tab does not train the round", async () => {
  const other = await generateKeyPair('Ed25519');
  const parameters = absurd.seed.weights.length;
  const foreign = await participate(absurd, (e) => e.type === 'error', await forgedMoment(other, parameters));
  expect(foreign.events.find((e) => e.type === 'error')).toMatchObject({
    message: `signed document: signed by ${peerIdFromPrivateKey(other)}, expected ${absurd.seed.peerId}`,
  });
  expect(foreign.trainerCalls).toEqual([]);
  const key = privateKeyFromProtobuf(await readFile(join(absurd.runDir, 'peer-key')));
  const wrongSize = await participate(absurd, (e) => e.type === 'error', await forgedMoment(key, parameters + 16));
  expect(wrongSize.events.find((e) => e.type === 'error')).toMatchObject({
    message: `the round's second moment is for ${parameters + 16} parameters, the model has ${parameters}`,
  });
  expect(wrongSize.trainerCalls).toEqual([]);
});
