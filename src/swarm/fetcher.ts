// Pulls every piece of one manifest from whoever holds it, verifying each piece's sha256 before
// it is stored. Scheduling: rarest piece first (random tie-break, so tabs starting together ask
// the seed for different pieces), other tabs before the seed, and the seed only for pieces that no
// usable peer holds or is already fetching from it: that keeps the seed's upload near one copy.
// Endgame: in a download's last ENDGAME_MAX_MISSING pieces, a piece a peer has not delivered within
// PEER_PIECE_PATIENCE_MS of getting the request (PEER_LINK_PATIENCE_MS while the link to it is being
// set up) is asked of another tab that holds it too, or else of the seed (the first answer wins, the
// other requests are ended): a slow or stalling peer, or a link that never comes up, costs the tail
// seconds, not its whole request timeout.
// A peer that sends a corrupted piece is banned; one that fails is set aside a while; one that is busy,
// or that the tab's connection budget does not let it connect to, is left a second. A seed that is
// busy (super-seeding: it refers us to the tabs that hold the piece) is asked again only after an
// announcement period, time to hear of those tabs. The seed cannot
// be banned (it is the only source of some pieces): its MAX_SEED_CORRUPT_PIECES-th corrupted piece
// ends the download with SeedServesCorruptPiecesError instead. A seed that no longer has the manifest
// (it retired it: newer weights replaced it) ends the download with ManifestRetiredError: the
// caller asks the seed what it serves now, rather than asking for the old pieces forever.

import { type Clock, sleep, systemClock, timeoutSignal } from '../util/clock';
import { hasBit, setBit } from './announce';
import { sha256Hex } from './bytes';
import { PeerConnectionBudgetError } from './connection-budget';
import {
  COMING_WAIT_MS,
  ENDGAME_MAX_MISSING,
  MAX_DISTRUSTED_CLAIMANTS,
  MAX_INFLIGHT_PER_PEER,
  MAX_INFLIGHT_TO_SEED,
  MAX_INFLIGHT_TOTAL,
  MAX_PEER_FAILURES,
  MAX_SEED_CORRUPT_PIECES,
  PEER_BACKOFF_MS,
  PEER_BUSY_RETRY_MS,
  PEER_LINK_PATIENCE_MS,
  PEER_PIECE_PATIENCE_MS,
  PIECE_REQUEST_TIMEOUT_MS,
  SEED_BUSY_RETRY_MS,
} from './limits';
import { pieceRange, type VerifiedPieces } from './manifest';
import { PieceProtocolError, PieceStatus, type PieceStore, type Referral } from './pieces';

export interface FetchProgress {
  held: number;
  total: number;
  /** Bytes received over the network in this fetch (pieces found in the store are not counted). */
  downloadedBytes: number;
  fromSeedBytes: number;
  fromPeersBytes: number;
  /** Pieces that failed their hash check. */
  corruptPieces: number;
  bannedPeers: string[];
}

export interface PieceFetcherOptions {
  manifest: VerifiedPieces;
  store: PieceStore;
  /** Peer id of the seed, the source of last resort (assumed to hold everything). */
  seed: string;
  /** What other peers announced for this manifest (fresh announcements only). Read on every pass. */
  holders(): ReadonlyMap<string, Availability>;
  /** Our own availability: the fetcher sets its bits, then calls onOwnChange (announce it). */
  own: Availability;
  onOwnChange?(): void;
  /** The seed referred us to other tabs for piece `index` (super-seeding): learn of them, ask them. */
  onReferral?(index: number, referrals: Referral[]): void;
  /**
   * Fetches one piece's bytes from `peer`; the fetcher verifies them. Calls `sent` once the request
   * went out over an open link (the endgame's patience with a peer counts from then).
   */
  request(peer: string, index: number, signal: AbortSignal, sent: () => void): Promise<Uint8Array>;
  onProgress?(p: FetchProgress): void;
  /** A peer was banned or set aside, with why. */
  onPenalty?(peer: string, reason: string): void;
  signal?: AbortSignal;
  /**
   * Tabs whose "fetching" claims are not believed: one of them did not turn into a piece within
   * COMING_WAIT_MS. Shared by a tab's downloads, so a liar delays it once, not once per round.
   */
  distrusted?: Set<string>;
  /** Random source for tie-breaks (tests pass a seeded one). */
  random?: () => number;
  /** Time for back-offs, retries, the request timeout and the idle poll (tests pass a manual one). */
  clock?: Clock;
}

/** The seed sent MAX_SEED_CORRUPT_PIECES pieces that failed their hash: it is broken or hostile. */
export class SeedServesCorruptPiecesError extends Error {
  override name = 'SeedServesCorruptPiecesError';
  constructor(
    readonly seed: string,
    /** Id of the weights manifest being downloaded. */
    readonly manifest: string,
    readonly corruptPieces: number,
  ) {
    super(
      `the seed ${seed} served ${corruptPieces} corrupted pieces of weights ${manifest.slice(0, 12)}: its store or the seed itself is broken or hostile`,
    );
  }
}

/** The seed answered NOT_FOUND: it no longer serves this manifest (newer weights replaced it). */
export class ManifestRetiredError extends Error {
  override name = 'ManifestRetiredError';
  constructor(readonly manifest: string) {
    super(`the seed no longer serves weights ${manifest.slice(0, 12)}: newer weights replaced them`);
  }
}

/** Pieces a peer holds, and those it is fetching from the seed right now (bitfields). */
export interface Availability {
  have: Uint8Array;
  fetching: Uint8Array;
}

interface PeerState {
  inflight: number;
  failures: number;
  lastFailureAt: number;
  /** Not asked again before this time (ms since epoch). */
  backoffUntil: number;
  banned: boolean;
  /** A request to it went out over an open link: it is connected, or was. */
  linked: boolean;
}

/** One piece request in flight: to whom, since when, and since when it is on an open link. */
interface PieceRequestState {
  from: string;
  since: number;
  sentAt?: number;
  /** Ends this request (the other request of the endgame delivered the piece). */
  ended: AbortController;
}

/** How long a peer is left alone after any failed request. */
const FAILURE_PAUSE_MS = 1_000;
/** How long the scheduler sleeps when it has nothing to start and nothing finishes. */
const IDLE_POLL_MS = 100;

/** A fetch's progress before anything moved: `held` of `total` pieces already stored. */
export function startingProgress(held: number, total: number): FetchProgress {
  return {
    held,
    total,
    downloadedBytes: 0,
    fromSeedBytes: 0,
    fromPeersBytes: 0,
    corruptPieces: 0,
    bannedPeers: [],
  };
}

/** Which pieces of `m` the store already has (a reload downloads nothing twice). */
async function heldPieces(m: VerifiedPieces, store: PieceStore): Promise<boolean[]> {
  return Promise.all(m.value.pieces.map((hash) => store.has(hash)));
}

/** Fetches every missing piece; resolves with the final progress once all are stored. */
export async function fetchPieces(opts: PieceFetcherOptions): Promise<FetchProgress> {
  const m = opts.manifest.value;
  const random = opts.random ?? Math.random;
  const clock = opts.clock ?? systemClock;
  const held = await heldPieces(opts.manifest, opts.store);
  for (const [i, h] of held.entries()) setBit(opts.own.have, i, h);
  opts.onOwnChange?.();
  /** piece -> the requests for it in flight: one, or in the endgame several (other tabs, then the seed). */
  const inflight = new Map<number, PieceRequestState[]>();
  /** piece -> time before which we do not ask the seed for it again (it said BUSY, or referred us). */
  const seedBusyUntil = new Map<number, number>();
  /** piece -> when we first left it to a tab that said it was fetching it from the seed. */
  const comingSince = new Map<number, number>();
  const claimsIgnored = opts.distrusted ?? new Set<string>();
  const peers = new Map<string, PeerState>();
  // A fixed random order per fetch: the tie-break among equally rare pieces.
  const order = m.pieces.map((_, i) => ({ i, r: random() }));
  const progress = startingProgress(held.filter(Boolean).length, m.pieces.length);
  const running = new Set<Promise<void>>();
  /** Corrupted pieces the seed sent; at MAX_SEED_CORRUPT_PIECES the fetch ends with `seedFailure`. */
  let seedCorruptPieces = 0;
  let seedFailure: SeedServesCorruptPiecesError | ManifestRetiredError | undefined;
  /** Ends the requests in flight once the seed failed or retired the manifest; `signal` carries the caller's abort too. */
  const ended = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, ended.signal]) : ended.signal;
  opts.onProgress?.({ ...progress });

  const peer = (id: string): PeerState => {
    let s = peers.get(id);
    if (!s) {
      s = { inflight: 0, failures: 0, lastFailureAt: 0, backoffUntil: 0, banned: false, linked: false };
      peers.set(id, s);
    }
    return s;
  };
  const usable = (id: string, now: number) => {
    const s = peer(id);
    return !s.banned && s.backoffUntil <= now;
  };
  const penalise = (id: string, reason: string, ban: boolean) => {
    const s = peer(id);
    if (s.banned) return;
    if (ban) {
      s.banned = true;
      progress.bannedPeers.push(id);
    } else {
      // Every failure pauses the peer briefly (a peer that fails at once is not hammered);
      // failures within that pause count once, and MAX_PEER_FAILURES of them set it aside longer.
      const now = clock.now();
      if (now - s.lastFailureAt > FAILURE_PAUSE_MS && ++s.failures >= MAX_PEER_FAILURES) {
        s.failures = 0;
        s.backoffUntil = now + PEER_BACKOFF_MS;
      } else {
        s.backoffUntil = Math.max(s.backoffUntil, now + FAILURE_PAUSE_MS);
      }
      s.lastFailureAt = now;
    }
    opts.onPenalty?.(id, reason);
  };

  const fetchOne = async (index: number, from: string) => {
    const s = peer(from);
    const hash = m.pieces[index]!;
    const fromSeed = from === opts.seed;
    s.inflight++;
    const request: PieceRequestState = { from, since: clock.now(), ended: new AbortController() };
    inflight.set(index, [...(inflight.get(index) ?? []), request]);
    if (fromSeed) {
      setBit(opts.own.fetching, index);
      opts.onOwnChange?.();
    }
    const timeout = timeoutSignal(clock, PIECE_REQUEST_TIMEOUT_MS);
    try {
      const bytes = await opts.request(
        from,
        index,
        AbortSignal.any([timeout.signal, signal, request.ended.signal]),
        () => {
          s.linked = true;
          request.sentAt ??= clock.now();
        },
      );
      const [start, end] = pieceRange(m, index);
      const intact = bytes.length === end - start && (await sha256Hex(bytes)) === hash;
      // The other request of the endgame may have delivered it meanwhile (checked after the last await).
      if (held[index]) return;
      if (!intact) {
        progress.corruptPieces++;
        if (fromSeed && ++seedCorruptPieces >= MAX_SEED_CORRUPT_PIECES)
          seedFailure ??= new SeedServesCorruptPiecesError(opts.seed, opts.manifest.id, seedCorruptPieces);
        penalise(from, `sent a corrupted piece ${index}`, !fromSeed);
        return;
      }
      // Marked before the store's await, so the other request cannot count it a second time.
      held[index] = true;
      for (const other of inflight.get(index) ?? []) if (other !== request) other.ended.abort();
      try {
        await opts.store.put(hash, bytes);
      } catch (e) {
        held[index] = false;
        throw e;
      }
      setBit(opts.own.have, index);
      s.failures = 0;
      progress.held++;
      progress.downloadedBytes += bytes.length;
      if (fromSeed) progress.fromSeedBytes += bytes.length;
      else progress.fromPeersBytes += bytes.length;
      opts.onProgress?.({ ...progress, bannedPeers: [...progress.bannedPeers] });
    } catch (e) {
      if (signal.aborted || request.ended.signal.aborted) return;
      // A peer we may not open a connection to yet (the tab's connection budget is spent) is a busy one;
      // so is one that refers us elsewhere (only the seed's referrals are followed).
      if (
        (e instanceof PieceProtocolError && (e.status === PieceStatus.Busy || e.status === PieceStatus.Referred)) ||
        e instanceof PeerConnectionBudgetError
      ) {
        if (fromSeed) seedBusyUntil.set(index, clock.now() + SEED_BUSY_RETRY_MS);
        else s.backoffUntil = clock.now() + PEER_BUSY_RETRY_MS;
        if (fromSeed && e instanceof PieceProtocolError && e.referrals.length > 0)
          opts.onReferral?.(index, e.referrals);
      } else if (fromSeed && e instanceof PieceProtocolError && e.status === PieceStatus.NotFound) {
        seedFailure ??= new ManifestRetiredError(opts.manifest.id);
      } else penalise(from, `piece ${index}: ${errorText(e)}`, false);
    } finally {
      timeout.clear();
      s.inflight--;
      const left = (inflight.get(index) ?? []).filter((r) => r !== request);
      if (left.length > 0) inflight.set(index, left);
      else inflight.delete(index);
      if (fromSeed) setBit(opts.own.fetching, index, false);
      if (fromSeed || held[index]) opts.onOwnChange?.();
    }
  };

  const start = (index: number, from: string) => {
    const p = fetchOne(index, from).finally(() => running.delete(p));
    running.add(p);
  };

  /**
   * Whether to leave piece `index` to the tabs that say they are fetching it from the seed. Only for
   * COMING_WAIT_MS: then their claims are ignored from now on (a stranger announcing that it fetches
   * every piece would otherwise keep us from ever asking the seed).
   */
  const waitForComing = (index: number, claimants: string[], now: number): boolean => {
    const coming = claimants.filter((id) => !claimsIgnored.has(id)); // some may be ignored since the pass began
    if (coming.length === 0) return false;
    const since = comingSince.get(index) ?? now;
    comingSince.set(index, since);
    if (now - since < COMING_WAIT_MS) return true;
    for (const id of coming) {
      if (claimsIgnored.size >= MAX_DISTRUSTED_CLAIMANTS) claimsIgnored.delete(claimsIgnored.values().next().value!);
      claimsIgnored.add(id);
      opts.onPenalty?.(id, `said it was fetching piece ${index} for ${COMING_WAIT_MS / 1000} s without getting it`);
    }
    return false;
  };

  /** Starts whatever the limits allow; returns how many it started. */
  const schedule = (): number => {
    const now = clock.now();
    const holders = [...opts.holders()].filter(([id]) => id !== opts.seed && usable(id, now));
    const candidates = order
      .filter(({ i }) => !held[i] && !inflight.has(i))
      .map(({ i, r }) => ({
        i,
        r,
        owners: holders.filter(([, a]) => hasBit(a.have, i)).map(([id]) => id),
        coming: holders.filter(([id, a]) => hasBit(a.fetching, i) && !claimsIgnored.has(id)).map(([id]) => id),
      }))
      .sort((a, b) => a.owners.length - b.owners.length || a.coming.length - b.coming.length || a.r - b.r);
    let started = 0;
    for (const c of candidates) {
      if (inflight.size >= MAX_INFLIGHT_TOTAL) break;
      const [least] = c.owners
        .filter((id) => peer(id).inflight < MAX_INFLIGHT_PER_PEER)
        .sort((a, b) => peer(a).inflight - peer(b).inflight);
      if (least !== undefined) {
        start(c.i, least);
        started++;
      } else if (
        c.owners.length === 0 &&
        !waitForComing(c.i, c.coming, now) &&
        (seedBusyUntil.get(c.i) ?? 0) <= now &&
        usable(opts.seed, now) &&
        peer(opts.seed).inflight < MAX_INFLIGHT_TO_SEED
      ) {
        start(c.i, opts.seed);
        started++;
      }
    }
    // Endgame: a piece every asked peer has kept past our patience is asked of another tab that holds
    // it (one we have a link to first), else of the seed.
    const endgame = progress.total - progress.held <= ENDGAME_MAX_MISSING;
    const patienceLost = (r: PieceRequestState) =>
      r.sentAt === undefined ? now - r.since >= PEER_LINK_PATIENCE_MS : now - r.sentAt >= PEER_PIECE_PATIENCE_MS;
    for (const [i, requests] of endgame ? inflight : []) {
      // A piece just delivered stays in flight while it is stored: asking again would be a wasted copy.
      if (held[i] || requests.some((r) => r.from === opts.seed) || !requests.every(patienceLost)) continue;
      const [other] = holders
        .filter(([id, a]) => hasBit(a.have, i) && !requests.some((r) => r.from === id))
        .map(([id]) => id)
        .filter((id) => peer(id).inflight < MAX_INFLIGHT_PER_PEER)
        .sort((a, b) => Number(peer(b).linked) - Number(peer(a).linked) || peer(a).inflight - peer(b).inflight);
      if (other !== undefined) start(i, other);
      else if (
        usable(opts.seed, now) &&
        peer(opts.seed).inflight < MAX_INFLIGHT_TO_SEED &&
        (seedBusyUntil.get(i) ?? 0) <= now
      )
        start(i, opts.seed);
      else continue;
      started++;
    }
    return started;
  };

  while (progress.held < progress.total) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('fetch aborted');
    if (seedFailure) {
      ended.abort(seedFailure);
      throw seedFailure;
    }
    if (schedule() === 0 || running.size > 0) {
      const poll = sleep(clock, IDLE_POLL_MS);
      await Promise.race([...running, poll.done]);
      poll.cancel();
    }
  }
  await Promise.all(running);
  return { ...progress, bannedPeers: [...progress.bannedPeers] };
}

function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  if (typeof Event !== 'undefined' && e instanceof Event) return `stream ${e.type}d`;
  return String(e);
}

/** Reads every piece back from the store and checks the whole vector's hash. */
/** The bytes of a manifest whose pieces are all in `store`, checked against its sha256. */
export async function assembleBytes(manifest: VerifiedPieces, store: PieceStore): Promise<Uint8Array> {
  const m = manifest.value;
  const bytes = new Uint8Array(m.totalBytes);
  for (const [i, hash] of m.pieces.entries()) {
    const piece = await store.get(hash);
    const [start, end] = pieceRange(m, i);
    if (!piece || piece.length !== end - start)
      throw new Error(`piece ${i} of ${manifest.id.slice(0, 12)} is missing from the store`);
    bytes.set(piece, start);
  }
  if ((await sha256Hex(bytes)) !== m.sha256)
    throw new Error(`assembled bytes of ${manifest.id.slice(0, 12)} fail the manifest's sha256`);
  return bytes;
}
