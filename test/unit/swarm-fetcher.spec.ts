// The piece fetcher with fake peers: `request` is a plain function, so no network is involved.
// Checks where pieces come from (peers first, the seed only for what no peer holds), that bad
// peers are banned or set aside, that a seed sending corrupted pieces ends the fetch, that stored
// pieces are never fetched twice, and the assembly.
import '../../src/seed/promise-shim';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import { type GptConfig, initParams, paramLayout } from '../../src/model';
import { emptyBitfield, hasBit, setBit } from '../../src/swarm/announce';
import { sha256Hex } from '../../src/swarm/bytes';
import {
  type Availability,
  assembleBytes,
  type FetchProgress,
  fetchPieces,
  ManifestRetiredError,
  type PieceFetcherOptions,
  SeedServesCorruptPiecesError,
} from '../../src/swarm/fetcher';
import {
  COMING_WAIT_MS,
  ENDGAME_MAX_MISSING,
  MAX_INFLIGHT_PER_PEER,
  MAX_INFLIGHT_TO_SEED,
  MAX_SEED_CORRUPT_PIECES,
  PEER_BACKOFF_MS,
  PEER_LINK_PATIENCE_MS,
  PEER_PIECE_PATIENCE_MS,
  PIECE_REQUEST_TIMEOUT_MS,
  SEED_BUSY_RETRY_MS,
} from '../../src/swarm/limits';
import {
  buildManifest,
  pieceRange,
  signManifest,
  type VerifiedManifest,
  verifyManifest,
  type WeightsManifest,
} from '../../src/swarm/manifest';
import { memoryPieceStore, PieceProtocolError, PieceStatus, type PieceStore } from '../../src/swarm/pieces';
import { sleep } from '../../src/util/clock';
import { createRandom } from '../../src/util/random';
import { manualClock } from '../harness/manual-clock';

const SEED = 'seed';
/** 24 pieces of 1 KiB, the last one 100 bytes. */
const PIECE = 1024;
const COUNT = 24;
const TOTAL = (COUNT - 1) * PIECE + 100;

/** A manifest for `bytes` cut into `pieceBytes` pieces; the fetcher only reads sizes and hashes. */
async function fakeManifest(bytes: Uint8Array, pieceBytes: number): Promise<VerifiedManifest> {
  const shape = { totalBytes: bytes.length, pieceBytes } as WeightsManifest;
  const pieces: string[] = [];
  for (let start = 0, i = 0; start < bytes.length; start += pieceBytes, i++)
    pieces.push(await sha256Hex(bytes.subarray(...pieceRange(shape, i))));
  const value: WeightsManifest = {
    kind: 'vgpu/weights',
    version: 1,
    name: 'fake',
    model: { vocab: 1, context: 1, layers: 1, heads: 1, width: 1 },
    layoutVersion: 1,
    totalBytes: bytes.length,
    pieceBytes,
    pieces,
    sha256: await sha256Hex(bytes),
  };
  return { id: 'f'.repeat(64), value, signed: { body: '', signer: SEED, signature: '' } };
}

let vector: Uint8Array;
let manifest: VerifiedManifest;

test.beforeAll(async () => {
  // Random bytes: every piece differs, so the store (keyed by hash) holds COUNT entries.
  const next = createRandom(5);
  vector = Uint8Array.from({ length: TOTAL }, () => Math.floor(next() * 256));
  manifest = await fakeManifest(vector, PIECE);
});

const piece = (i: number, m: VerifiedManifest = manifest, bytes: Uint8Array = vector) =>
  bytes.slice(...pieceRange(m.value, i));

const newOwn = (m: VerifiedManifest = manifest): Availability => ({
  have: emptyBitfield(m.value.pieces.length),
  fetching: emptyBitfield(m.value.pieces.length),
});

/** An availability holding `pieces` (and fetching `fetching`). */
function holding(pieces: Iterable<number>, fetching: Iterable<number> = []): Availability {
  const a = newOwn();
  for (const i of pieces) setBit(a.have, i);
  for (const i of fetching) setBit(a.fetching, i);
  return a;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

/** Every request made: who was asked for which piece. */
interface Log {
  calls: { peer: string; index: number }[];
  count(peer: string): number;
  indices(peer: string): number[];
}

function newLog(): Log {
  const calls: Log['calls'] = [];
  return {
    calls,
    count: (peer) => calls.filter((c) => c.peer === peer).length,
    indices: (peer) => [...new Set(calls.filter((c) => c.peer === peer).map((c) => c.index))].sort((a, b) => a - b),
  };
}

/** fetchPieces with defaults: a fresh store and own bitfields, seeded tie-breaks, honest peers. */
function fetch(o: Partial<PieceFetcherOptions> & { log?: Log }): Promise<FetchProgress> {
  const log = o.log ?? newLog();
  return fetchPieces({
    manifest,
    store: memoryPieceStore(),
    seed: SEED,
    holders: () => new Map(),
    own: newOwn(),
    random: createRandom(1),
    request: async (peer, index, _signal, sent) => {
      log.calls.push({ peer, index });
      sent();
      return piece(index);
    },
    ...o,
  });
}

/** Wraps a request function to log each call first. */
const logged =
  (log: Log, fn: PieceFetcherOptions['request']): PieceFetcherOptions['request'] =>
  (peer, index, signal, sent) => {
    log.calls.push({ peer, index });
    return fn(peer, index, signal, sent);
  };

test('a real model vector: every piece fetched (seed and two peers), stored, and assembled bit-identical', async () => {
  const cfg: GptConfig = { vocab: 1024, context: 128, layers: 4, heads: 4, width: 128 }; // 3.59 MiB: 4 pieces
  const weights = initParams(paramLayout(cfg), 9);
  const key = await generateKeyPair('Ed25519');
  const id = peerIdFromPrivateKey(key);
  const m = await verifyManifest(await signManifest(key, id, await buildManifest(weights, 'real', cfg)), id);
  const bytes = new Uint8Array(weights.buffer);
  const store = memoryPieceStore();
  const log = newLog();
  const own = newOwn(m);
  const progressSeen: FetchProgress[] = [];
  const holders = new Map<string, Availability>([
    ['p1', { have: Uint8Array.of(0b0011), fetching: Uint8Array.of(0) }],
    ['p2', { have: Uint8Array.of(0b0100), fetching: Uint8Array.of(0) }],
  ]);
  const progress = await fetchPieces({
    manifest: m,
    store,
    seed: id.toString(),
    own,
    holders: () => holders,
    random: createRandom(2),
    request: logged(log, async (_peer, index) => piece(index, m, bytes)),
    onProgress: (p) => progressSeen.push(p),
  });
  expect(progress).toEqual({
    held: 4,
    total: 4,
    downloadedBytes: bytes.length,
    fromSeedBytes: bytes.length - 3 * 2 ** 20,
    fromPeersBytes: 3 * 2 ** 20,
    corruptPieces: 0,
    bannedPeers: [],
  });
  expect([log.indices('p1'), log.indices('p2'), log.indices(id.toString())]).toEqual([[0, 1], [2], [3]]);
  // Progress starts at nothing held and counts up one piece at a time.
  expect(progressSeen.map((p) => p.held)).toEqual([0, 1, 2, 3, 4]);
  const assembled = await assembleBytes(m, store);
  expect(assembled.length).toBe(weights.byteLength);
  expect(Buffer.compare(assembled, bytes)).toBe(0);
});

test('pieces other peers announced come from them; the seed is asked only for the pieces no peer holds', async () => {
  const log = newLog();
  const store = memoryPieceStore();
  const own = newOwn();
  // a holds 0..11, b holds 8..17; nobody holds 18..23.
  const holders = new Map([
    ['a', holding(range(0, 12))],
    ['b', holding(range(8, 18))],
  ]);
  // Requests in flight per source now, and the most seen at once: the in-flight limits.
  const now = new Map<string, number>();
  const most = new Map<string, number>();
  const progress = await fetch({
    store,
    own,
    log,
    holders: () => holders,
    request: logged(log, async (peer, index) => {
      now.set(peer, (now.get(peer) ?? 0) + 1);
      most.set(peer, Math.max(most.get(peer) ?? 0, now.get(peer)!));
      await new Promise((r) => setTimeout(r, 5));
      now.set(peer, now.get(peer)! - 1);
      return piece(index);
    }),
  });
  expect(log.calls).toHaveLength(COUNT); // each piece asked for once
  expect(log.indices(SEED)).toEqual(range(18, 24));
  expect(log.indices('a').every((i) => i < 12)).toBe(true);
  expect(log.indices('b').every((i) => i >= 8 && i < 18)).toBe(true);
  expect([...log.indices('a'), ...log.indices('b')].sort((x, y) => x - y)).toEqual(range(0, 18));
  expect(progress.fromSeedBytes).toBe(5 * PIECE + 100);
  expect(progress.fromPeersBytes).toBe(18 * PIECE);
  expect(progress.downloadedBytes).toBe(TOTAL);
  expect(most.get(SEED)).toBeLessThanOrEqual(MAX_INFLIGHT_TO_SEED);
  expect(most.get('a')).toBeLessThanOrEqual(MAX_INFLIGHT_PER_PEER);
  expect(most.get('b')).toBeLessThanOrEqual(MAX_INFLIGHT_PER_PEER);
  expect(Buffer.compare(await assembleBytes(manifest, store), vector)).toBe(0);
});

test('a piece another tab is fetching from the seed is not asked of the seed: the fetcher waits for that tab', async () => {
  const log = newLog();
  const clock = manualClock();
  const start = clock.now();
  // t holds 0..9 and is fetching 10 from the seed. It gets 10 only once we hold every other piece
  // and have looked at the holders twice since, waiting.
  const t = holding(range(0, 10), [10]);
  let held = 0;
  let looksAtLast = 0;
  let seedAskedFor10At: number | undefined;
  const progress = await clock.run(
    fetch({
      log,
      clock,
      onProgress: (p) => {
        held = p.held;
      },
      holders: () => {
        if (held === COUNT - 1 && ++looksAtLast === 3) {
          setBit(t.have, 10);
          setBit(t.fetching, 10, false);
        }
        return new Map([['t', t]]);
      },
      request: logged(log, async (peer, index) => {
        if (peer === SEED && index === 10) seedAskedFor10At ??= clock.now();
        return piece(index);
      }),
    }),
  );
  expect(progress.held).toBe(COUNT);
  expect(log.indices(SEED)).toEqual(expect.arrayContaining(range(11, 24)));
  expect(log.indices('t')).toEqual(expect.arrayContaining(range(0, 10)));
  if (seedAskedFor10At === undefined) {
    // t delivered it: the fetcher waited.
    expect(looksAtLast).toBeGreaterThanOrEqual(3);
    expect(log.indices('t')).toEqual(range(0, 11));
  } else {
    // The manual clock ran past the wait (it jumps while hashing): the seed was asked only after it.
    expect(seedAskedFor10At - start).toBeGreaterThanOrEqual(COMING_WAIT_MS);
  }
});

test('a tab that says it is fetching every piece and never gets one holds the fetches back COMING_WAIT_MS, once over all of them', async () => {
  const distrusted = new Set<string>();
  const penalties: string[] = [];
  const liar = holding([], range(0, COUNT)); // "fetching" everything from the seed, forever
  /** One download of the tab (a round's weights): when the seed was first asked, and who was asked. */
  const download = async () => {
    const log = newLog();
    const clock = manualClock();
    const start = clock.now();
    const asked: number[] = [];
    const progress = await clock.run(
      fetch({
        log,
        clock,
        distrusted,
        holders: () => new Map([['liar', liar]]),
        request: logged(log, async (_peer, index) => {
          asked.push(clock.now());
          return piece(index);
        }),
        onPenalty: (peer, reason) => penalties.push(`${peer}: ${reason}`),
      }),
    );
    expect(progress.held).toBe(COUNT);
    expect(log.indices(SEED)).toEqual(range(0, COUNT));
    expect(log.count('liar')).toBe(0);
    return Math.min(...asked) - start;
  };
  expect(await download()).toBeGreaterThanOrEqual(COMING_WAIT_MS);
  // Its claims are ignored from then on, for every piece: one penalty, no wait per piece.
  expect(penalties).toEqual([
    expect.stringMatching(
      new RegExp(`^liar: said it was fetching piece \\d+ for ${COMING_WAIT_MS / 1000} s without getting it$`),
    ),
  ]);
  // The tab's next download (the next round's weights) does not wait for the liar at all.
  expect(await download()).toBeLessThan(COMING_WAIT_MS);
  expect(penalties).toHaveLength(1);
  expect([...distrusted]).toEqual(['liar']);
});

/** A peer request that stalls (a link still being set up, a peer that stops): nothing comes until it is ended. */
const stall = (signal: AbortSignal) =>
  new Promise<Uint8Array>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));

/**
 * A download of ENDGAME_MAX_MISSING pieces (all of it the endgame) from the seed and one peer whose
 * requests stall, after it got them (`sent`) or while its link is still being set up.
 */
async function endgameWithStalledPeer(sent: boolean) {
  const bytes = vector.slice(0, ENDGAME_MAX_MISSING * PIECE);
  const tail = await fakeManifest(bytes, PIECE);
  const log = newLog();
  const clock = manualClock();
  const penalties: string[] = [];
  const stalled: AbortSignal[] = [];
  let seedAnsweredAt: number | undefined;
  const start = clock.now();
  const progress = await clock.run(
    fetch({
      manifest: tail,
      own: newOwn(tail),
      log,
      clock,
      holders: () => new Map([['slow', holding(range(0, ENDGAME_MAX_MISSING))]]),
      request: logged(log, async (peer, index, signal, onSent) => {
        if (peer === 'slow') {
          if (sent) onSent();
          stalled.push(signal);
          return stall(signal);
        }
        seedAnsweredAt ??= clock.now();
        return piece(index, tail, bytes);
      }),
      onPenalty: (peer, reason) => penalties.push(`${peer}: ${reason}`),
    }),
  );
  expect(progress.held).toBe(ENDGAME_MAX_MISSING);
  expect(progress.fromSeedBytes).toBe(bytes.length);
  // The peer was asked first, for as many pieces as it may have in flight; the seed only after the patience.
  expect(log.calls.slice(0, MAX_INFLIGHT_PER_PEER).every((c) => c.peer === 'slow')).toBe(true);
  // Every stalled request was ended once the seed delivered its piece, and the ending is no penalty.
  expect(stalled.length).toBeGreaterThan(0);
  expect(stalled.every((s) => s.aborted)).toBe(true);
  expect(penalties.filter((p) => p.startsWith('slow'))).toEqual([]);
  return { seedAfterMs: seedAnsweredAt! - start };
}

test('endgame: in the last ENDGAME_MAX_MISSING pieces, a piece a peer got the request for and has not delivered within PEER_PIECE_PATIENCE_MS is asked of the seed; the first answer wins, the other request is ended', async () => {
  const { seedAfterMs } = await endgameWithStalledPeer(true);
  expect(seedAfterMs).toBeGreaterThanOrEqual(PEER_PIECE_PATIENCE_MS);
  expect(seedAfterMs).toBeLessThan(PEER_LINK_PATIENCE_MS);
});

test('endgame: while the link to the peer is still being set up, the seed is asked only after PEER_LINK_PATIENCE_MS', async () => {
  const { seedAfterMs } = await endgameWithStalledPeer(false);
  expect(seedAfterMs).toBeGreaterThanOrEqual(PEER_LINK_PATIENCE_MS);
  expect(seedAfterMs).toBeLessThan(PIECE_REQUEST_TIMEOUT_MS);
});

test('before the endgame a stalled peer is not doubled by the seed: the seed keeps to what no peer holds', async () => {
  const log = newLog();
  const clock = manualClock();
  let seedAskedAt: number | undefined;
  const start = clock.now();
  const progress = await clock.run(
    fetch({
      log,
      clock,
      holders: () => new Map([['slow', holding(range(0, COUNT))]]),
      request: logged(log, async (peer, index, signal) => {
        if (peer === 'slow') return stall(signal);
        seedAskedAt ??= clock.now();
        return piece(index);
      }),
    }),
  );
  expect(progress.held).toBe(COUNT);
  // Only the stalled requests' own timeout sent the fetch to the seed.
  expect(seedAskedAt! - start).toBeGreaterThanOrEqual(PIECE_REQUEST_TIMEOUT_MS);
});

test('a peer sending corrupted bytes is banned and its pieces are fetched elsewhere', async () => {
  const log = newLog();
  const penalties: string[] = [];
  const holders = new Map([
    ['evil', holding(range(0, COUNT))],
    ['good', holding(range(0, COUNT))],
  ]);
  const store = memoryPieceStore();
  const progress = await fetch({
    log,
    store,
    holders: () => holders,
    onPenalty: (peer, reason) => penalties.push(`${peer}: ${reason}`),
    request: logged(log, async (peer, index) => {
      const bytes = piece(index);
      if (peer === 'evil') bytes[0]! ^= 0xff; // same length, wrong hash
      return bytes;
    }),
  });
  expect(progress.held).toBe(COUNT);
  expect(progress.corruptPieces).toBeGreaterThan(0);
  expect(progress.corruptPieces).toBe(log.count('evil'));
  expect(progress.bannedPeers).toContain('evil');
  expect(progress.bannedPeers.every((p) => p === 'evil')).toBe(true);
  expect(penalties[0]).toMatch(/^evil: sent a corrupted piece \d+$/);
  // Once banned it is never asked again: its requests all started before the first one came back.
  expect(log.count('evil')).toBeLessThanOrEqual(MAX_INFLIGHT_PER_PEER);
  expect(log.count(SEED)).toBe(0);
  expect(progress.fromPeersBytes).toBe(TOTAL);
  // Nothing corrupt reached the store.
  expect(Buffer.compare(await assembleBytes(manifest, store), vector)).toBe(0);
});

test('a peer sending a piece of the wrong length is banned too', async () => {
  const holders = new Map([['short', holding([0, 1, 2])]]);
  const progress = await fetch({
    holders: () => holders,
    request: async (peer, index) => (peer === 'short' ? piece(index).subarray(1) : piece(index)),
  });
  expect(progress.held).toBe(COUNT);
  expect(progress.bannedPeers).toContain('short');
  expect(progress.corruptPieces).toBeGreaterThan(0);
});

test('a seed sending a corrupted piece is not banned: the piece is asked again and the fetch completes', async () => {
  const log = newLog();
  const clock = manualClock();
  let corrupted = false;
  const progress = await clock.run(
    fetch({
      log,
      clock,
      request: logged(log, async (_peer, index) => {
        const bytes = piece(index);
        if (index === 3 && !corrupted) {
          corrupted = true;
          bytes[10]! ^= 1;
        }
        return bytes;
      }),
    }),
  );
  expect(progress.held).toBe(COUNT);
  expect(progress.corruptPieces).toBe(1);
  expect(progress.bannedPeers).toEqual([]);
  expect(log.calls.filter((c) => c.index === 3)).toHaveLength(2);
});

test('endgame: when the peer and the seed deliver a piece at the same moment, it is stored and counted once', async () => {
  const bytes = vector.slice(0, 3 * PIECE);
  const three = await fakeManifest(bytes, PIECE);
  const clock = manualClock();
  const releases: (() => void)[] = [];
  const progress = await clock.run(
    fetch({
      manifest: three,
      own: newOwn(three),
      clock,
      holders: () => new Map([['slow', holding([0, 1, 2])]]),
      request: async (peer, index) => {
        // The peer answers only when the seed is asked: both answers are then verified side by side.
        if (peer === 'slow') await new Promise<void>((resolve) => releases.push(resolve));
        else for (const release of releases.splice(0)) release();
        return piece(index, three, bytes);
      },
    }),
  );
  expect(progress).toMatchObject({ held: 3, total: 3, downloadedBytes: bytes.length });
  expect(progress.fromSeedBytes + progress.fromPeersBytes).toBe(bytes.length);
});

test('endgame: a piece whose link never comes up is asked of another tab that holds it before the seed', async () => {
  const bytes = vector.slice(0, PIECE);
  const one = await fakeManifest(bytes, PIECE);
  const log = newLog();
  const clock = manualClock();
  const progress = await clock.run(
    fetch({
      manifest: one,
      own: newOwn(one),
      log,
      clock,
      // `stuck` is the only holder at first, and its link never comes up; `other` is heard of after.
      holders: () =>
        new Map([['stuck', holding([0])], ...(log.count('stuck') > 0 ? [['other', holding([0])] as const] : [])]),
      request: logged(log, async (peer, index, signal, sent) => {
        if (peer === 'stuck') return stall(signal);
        sent();
        return piece(index, one, bytes);
      }),
    }),
  );
  expect(progress).toMatchObject({ held: 1, fromSeedBytes: 0, fromPeersBytes: bytes.length });
  expect(log.calls.map((c) => c.peer)).toEqual(['stuck', 'other']);
});

test('endgame: a piece the peer delivers after the seed was asked too is not asked of the seed again while it is being stored', async () => {
  const bytes = vector.slice(0, 2 * PIECE);
  const two = await fakeManifest(bytes, PIECE);
  const log = newLog();
  const clock = manualClock();
  const memory = memoryPieceStore();
  // A store that takes a while (IndexedDB under load): the piece stays in flight meanwhile.
  const store: PieceStore = {
    ...memory,
    put: (hash, piece) => sleep(clock, 1_000).done.then(() => memory.put(hash, piece)),
  };
  const progress = await clock.run(
    fetch({
      manifest: two,
      own: newOwn(two),
      store,
      log,
      clock,
      holders: () => new Map([['slow', holding([0, 1])]]),
      request: logged(log, async (peer, index, signal, sent) => {
        sent();
        // The peer delivers a second after its patience ran out; the seed never answers in time.
        if (peer === 'slow') await sleep(clock, PEER_PIECE_PATIENCE_MS + 1_000).done;
        else await stall(signal);
        return piece(index, two, bytes);
      }),
    }),
  );
  expect(progress).toMatchObject({ held: 2, fromPeersBytes: bytes.length, fromSeedBytes: 0 });
  expect(log.indices(SEED)).toEqual([0, 1]);
  expect(log.count(SEED)).toBe(2); // once each, not again while the peer's copy was being stored
});

test('a seed that keeps sending a corrupted piece ends the fetch at its MAX_SEED_CORRUPT_PIECES-th: a typed error, no ban', async () => {
  const log = newLog();
  const clock = manualClock();
  const penalties: string[] = [];
  /** The signal of the request left unanswered. */
  const pending: AbortSignal[] = [];
  const progress: FetchProgress[] = [];
  const error = await clock
    .run(
      fetch({
        log,
        clock,
        onProgress: (p) => progress.push(p),
        onPenalty: (peer, reason) => penalties.push(`${peer}: ${reason}`),
        request: logged(log, async (_peer, index, signal) => {
          const bytes = piece(index);
          // The seed's copy of piece 3 is damaged: every answer is wrong. The first other piece is
          // still on its way when the seed fails: the fetch ends it.
          if (index === 3) bytes[10]! ^= 1;
          else if (pending.length === 0) {
            pending.push(signal);
            await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
          }
          return bytes;
        }),
      }),
    )
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(SeedServesCorruptPiecesError);
  expect(error).toMatchObject({ seed: SEED, manifest: manifest.id, corruptPieces: MAX_SEED_CORRUPT_PIECES });
  expect((error as Error).message).toBe(
    `the seed seed served ${MAX_SEED_CORRUPT_PIECES} corrupted pieces of weights ${manifest.id.slice(0, 12)}: its store or the seed itself is broken or hostile`,
  );
  // Piece 3 was asked exactly that many times; each bad answer paused the seed, none banned it.
  expect(log.calls.filter((c) => c.index === 3)).toHaveLength(MAX_SEED_CORRUPT_PIECES);
  // (The manual clock may jump past the other request's timeout while pieces are hashed in real time:
  // that penalty is not the one under test.)
  expect(penalties.filter((p) => !p.includes('TimeoutError'))).toEqual(
    Array(MAX_SEED_CORRUPT_PIECES).fill('seed: sent a corrupted piece 3'),
  );
  expect(progress.at(-1)?.bannedPeers).toEqual([]);
  // The request in flight was ended with the error, not left running.
  expect(pending).toHaveLength(1);
  expect(pending[0]!.aborted).toBe(true);
  // By the seed's failure; or by its own timeout, when the manual clock ran past it while pieces were
  // hashed in real time (a loaded machine).
  const reason = pending[0]!.reason as Error;
  if (reason !== error) expect(reason.name).toBe('TimeoutError');
});

test('a seed that no longer serves the manifest (NOT_FOUND: it retired it) ends the fetch with ManifestRetiredError, no penalty', async () => {
  const log = newLog();
  const clock = manualClock();
  const penalties: string[] = [];
  const error = await clock
    .run(
      fetch({
        log,
        clock,
        onPenalty: (peer, reason) => penalties.push(`${peer}: ${reason}`),
        request: logged(log, async (_peer, index) => {
          // The first answers arrive, then the seed publishes newer weights and drops these.
          if (log.calls.length > 2) throw new PieceProtocolError(`no piece ${index}`, PieceStatus.NotFound);
          return piece(index);
        }),
      }),
    )
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ManifestRetiredError);
  expect(error).toMatchObject({ manifest: manifest.id });
  expect((error as Error).message).toBe(
    `the seed no longer serves weights ${manifest.id.slice(0, 12)}: newer weights replaced them`,
  );
  // No more than the requests in flight when the first NOT_FOUND came: nothing is asked again.
  expect(log.count(SEED)).toBeLessThanOrEqual(2 + MAX_INFLIGHT_TO_SEED);
  expect(penalties).toEqual([]);
});

test('a peer whose requests fail is set aside, and the seed then serves what only that peer held', async () => {
  const log = newLog();
  const penalties: string[] = [];
  // Only "flaky" holds 0..5, and every request to it fails. Time stands still: a peer set aside
  // is never usable again here, so a fetcher that waited for it would never finish.
  const clock = manualClock();
  const start = clock.now();
  const holders = new Map([['flaky', holding(range(0, 6))]]);
  const progress = await fetch({
    log,
    clock,
    holders: () => holders,
    onPenalty: (peer, reason) => penalties.push(`${peer}: ${reason}`),
    request: logged(log, async (peer, index) => {
      if (peer === 'flaky') throw new Error('connection reset');
      return piece(index);
    }),
  });
  expect(progress.held).toBe(COUNT);
  expect(progress.bannedPeers).toEqual([]); // failing is not cheating: set aside, not banned
  expect(log.indices(SEED)).toEqual(range(0, COUNT));
  expect(penalties[0]).toMatch(/^flaky: piece \d: Error: connection reset$/);
  // It was set aside (not retried forever): asked only in the first pass, as often as the
  // in-flight limit allows, and the fetch finished without waiting out any back-off.
  expect(log.count('flaky')).toBe(MAX_INFLIGHT_PER_PEER);
  expect(penalties).toHaveLength(MAX_INFLIGHT_PER_PEER);
  expect(clock.now() - start).toBeLessThan(PEER_BACKOFF_MS);
});

test('pieces already in the store are not requested again', async () => {
  const store = memoryPieceStore();
  const first = newLog();
  expect((await fetch({ store, log: first })).downloadedBytes).toBe(TOTAL);
  expect(first.calls).toHaveLength(COUNT);
  const second = newLog();
  const own = newOwn();
  const progress = await fetch({ store, log: second, own });
  expect(second.calls).toHaveLength(0);
  expect(progress).toEqual({
    held: COUNT,
    total: COUNT,
    downloadedBytes: 0,
    fromSeedBytes: 0,
    fromPeersBytes: 0,
    corruptPieces: 0,
    bannedPeers: [],
  });
  expect(range(0, COUNT).every((i) => hasBit(own.have, i))).toBe(true);
  // A partly filled store: only the missing pieces are fetched.
  const partial = memoryPieceStore();
  for (const i of [0, 5, 23]) await partial.put(manifest.value.pieces[i]!, piece(i));
  const third = newLog();
  const p3 = await fetch({ store: partial, log: third });
  expect(third.indices(SEED)).toEqual(range(0, COUNT).filter((i) => ![0, 5, 23].includes(i)));
  expect(p3.downloadedBytes).toBe(TOTAL - 2 * PIECE - 100);
});

test('own availability: "fetching" is set while the seed is asked, cleared after; every "have" bit ends set', async () => {
  const own = newOwn();
  let changes = 0;
  const duringSeed: boolean[] = [];
  const holders = new Map([['a', holding([0, 1])]]);
  await fetch({
    own,
    holders: () => holders,
    onOwnChange: () => changes++,
    request: async (peer, index) => {
      // While the seed serves a piece, we announce that we are fetching it (others wait for us).
      duringSeed.push(peer === SEED ? hasBit(own.fetching, index) : !hasBit(own.fetching, index));
      expect(hasBit(own.have, index)).toBe(false);
      return piece(index);
    },
  });
  expect(duringSeed).toHaveLength(COUNT);
  expect(duringSeed.every(Boolean)).toBe(true);
  expect(range(0, COUNT).every((i) => hasBit(own.have, i))).toBe(true);
  expect(range(0, COUNT).some((i) => hasBit(own.fetching, i))).toBe(false);
  expect(changes).toBeGreaterThanOrEqual(COUNT); // announced after each new piece
});

test('the seed answering BUSY for a piece makes the fetcher leave it a while, then ask again and succeed', async () => {
  const log = newLog();
  const clock = manualClock();
  const asked = new Map<number, number[]>();
  const progress = await clock.run(
    fetch({
      log,
      clock,
      request: logged(log, async (_peer, index) => {
        asked.set(index, [...(asked.get(index) ?? []), clock.now()]);
        if (index === 7 && asked.get(index)!.length === 1) throw new PieceProtocolError('busy', PieceStatus.Busy);
        return piece(index);
      }),
    }),
  );
  expect(progress.held).toBe(COUNT);
  expect(progress.bannedPeers).toEqual([]);
  const times = asked.get(7)!;
  expect(times).toHaveLength(2);
  // Retried only once SEED_BUSY_RETRY_MS had passed.
  expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(SEED_BUSY_RETRY_MS);
  expect(log.calls).toHaveLength(COUNT + 1);
});

test('a tab that has just joined hears the holders the seed referred it to before it asks the seed again: every piece comes from them', async () => {
  const log = newLog();
  const clock = manualClock();
  const start = clock.now();
  // The holder's announcement arrives a gossip heartbeat or so after the seed's BUSY replies.
  const heardAfterMs = SEED_BUSY_RETRY_MS / 2;
  const progress = await clock.run(
    fetch({
      log,
      clock,
      holders: () =>
        clock.now() - start >= heardAfterMs ? new Map([['holder', holding(range(0, COUNT))]]) : new Map(),
      request: logged(log, async (peer, index) => {
        // Super-seeding: the seed refers the first ask for a piece to its holder, and serves a second.
        if (peer === SEED && log.calls.filter((c) => c.peer === SEED && c.index === index).length === 1)
          throw new PieceProtocolError('piece is offered by 1 tab(s)', PieceStatus.Busy);
        return piece(index);
      }),
    }),
  );
  expect(progress.held).toBe(COUNT);
  expect(log.count(SEED)).toBeGreaterThan(0); // it did ask before it knew the holder
  expect(progress.fromSeedBytes).toBe(0);
  expect(progress.fromPeersBytes).toBe(TOTAL);
});

test("the seed's referral is passed on (its tabs are then asked); a referral from another tab is a plain busy", async () => {
  const log = newLog();
  const clock = manualClock();
  const referred = new Map<string, Availability>();
  const passedOn: [number, string[]][] = [];
  const refer = (peer: string) =>
    new PieceProtocolError('fetch it elsewhere', PieceStatus.Referred, [{ peer, addrs: [], has: true }]);
  const progress = await clock.run(
    fetch({
      log,
      clock,
      holders: () => new Map([['liar', holding([0])], ...referred]),
      onReferral: (index, referrals) => {
        passedOn.push([index, referrals.map((r) => r.peer)]);
        const a = referred.get('holder') ?? holding([]);
        setBit(a.have, index);
        referred.set('holder', a);
      },
      request: logged(log, async (peer, index) => {
        if (peer === 'liar') throw refer('liar-friend');
        if (peer === SEED && log.calls.filter((c) => c.peer === SEED && c.index === index).length === 1)
          throw refer('holder');
        return piece(index);
      }),
    }),
  );
  expect(progress.held).toBe(COUNT);
  // Every piece the seed referred came from the tab it named; only the seed's referrals were passed on.
  expect(passedOn.length).toBeGreaterThan(0);
  expect(passedOn.every(([, peers]) => peers.join() === 'holder')).toBe(true);
  for (const [index] of passedOn) expect(log.indices('holder')).toContain(index);
  expect(progress.fromPeersBytes).toBeGreaterThan(0);
});

test('an aborted fetch rejects with the abort reason', async () => {
  const controller = new AbortController();
  const reason = new Error('stop now');
  const p = fetch({
    signal: controller.signal,
    request: async (_peer, _index, signal) => {
      controller.abort(reason); // the first request aborts the whole fetch
      signal.throwIfAborted();
      throw new Error('unreachable');
    },
  });
  await expect(p).rejects.toBe(reason);
});

test('assembleBytes refuses a store that lacks a piece or holds a wrong one', async () => {
  const store: PieceStore = memoryPieceStore();
  for (let i = 0; i < COUNT - 1; i++) await store.put(manifest.value.pieces[i]!, piece(i));
  await expect(assembleBytes(manifest, store)).rejects.toThrow(
    `piece ${COUNT - 1} of ${manifest.id.slice(0, 12)} is missing from the store`,
  );
  // The right length but the wrong bytes, stored under the right hash: the whole-vector hash catches it.
  const wrong = piece(COUNT - 1);
  wrong[0]! ^= 1;
  await store.put(manifest.value.pieces[COUNT - 1]!, wrong);
  await expect(assembleBytes(manifest, store)).rejects.toThrow(
    `assembled bytes of ${manifest.id.slice(0, 12)} fail the manifest's sha256`,
  );
});
