// The piece pull protocol: one short stream per request. The requester writes one
// length-prefixed JSON frame {manifest, index}; the server answers one length-prefixed frame
// whose first byte is a status and whose rest is the piece, an error text, or (REFERRED, the
// seed's super-seeding) a JSON referral {reason, holders: [{peer, addrs, has}]} to the tabs that hold it.

import type { AbortOptions, Connection, Stream, StreamHandler } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { lpStream } from '@libp2p/utils';
import { heldByKey } from '../util/budget';
import { type Clock, systemClock, withDeadline } from '../util/clock';
import { dialableAddrs } from './announce';
import { decodeJsonMessage, fromUtf8, isSha256Hex, utf8 } from './bytes';
import {
  MAX_CONCURRENT_UPLOADS,
  MAX_PIECE_REPLY_BYTES,
  MAX_PIECE_REQUEST_BYTES,
  MAX_REFERRAL_BYTES,
  MAX_REFERRED_HOLDERS,
  MAX_UPLOADS_PER_PEER,
  PIECE_SEND_TIMEOUT_MS,
  REQUEST_READ_TIMEOUT_MS,
} from './limits';
import { type PieceManifest, pieceRange } from './manifest';
import { closeBothEnds } from './streams';

export const PIECE_PROTOCOL = '/vgpu/piece/1.0.0';

export enum PieceStatus {
  Ok = 0,
  NotFound = 1,
  BadRequest = 2,
  Busy = 3,
  /** Not served now: fetch it from the tabs the reply names (a busy reply that says where to go). */
  Referred = 4,
}

/** A tab an asker is referred to for a piece: it holds the piece (`has`), or is being sent it. */
export interface Referral {
  peer: string;
  /** Its WebRTC addresses, as it announced them. */
  addrs: string[];
  has: boolean;
}

export interface PieceRequest {
  /** Manifest id (sha256 of the signed manifest body). */
  manifest: string;
  index: number;
}

export class PieceProtocolError extends Error {
  override name = 'PieceProtocolError';
  constructor(
    message: string,
    readonly status?: PieceStatus,
    /** With REFERRED: the tabs to fetch the piece from, as the server named them (checked, not yet believed). */
    readonly referrals: Referral[] = [],
  ) {
    super(message);
  }
}

/** Where pieces live: memory on the seed, IndexedDB in a tab. Keyed by the piece's sha256. */
export interface PieceStore {
  get(hash: string): Promise<Uint8Array | undefined>;
  put(hash: string, bytes: Uint8Array): Promise<void>;
  has(hash: string): Promise<boolean>;
}

/** A PieceStore in memory: the seed's (the pieces of the weights it serves), and tests'. */
export interface MemoryPieceStore extends PieceStore {
  delete(hash: string): void;
}

export function memoryPieceStore(): MemoryPieceStore {
  const pieces = new Map<string, Uint8Array>();
  return {
    get: async (hash) => pieces.get(hash),
    put: async (hash, bytes) => void pieces.set(hash, bytes),
    has: async (hash) => pieces.has(hash),
    delete: (hash) => void pieces.delete(hash),
  };
}

export function encodePieceRequest(req: PieceRequest): Uint8Array {
  return utf8(JSON.stringify({ manifest: req.manifest, index: req.index }));
}

/** Parses a request frame; throws PieceProtocolError on anything malformed. */
export function decodePieceRequest(bytes: Uint8Array): PieceRequest {
  const { manifest, index } = decodeJsonMessage(
    bytes,
    MAX_PIECE_REQUEST_BYTES,
    'request',
    (why) => new PieceProtocolError(why),
  );
  if (!isSha256Hex(manifest)) throw new PieceProtocolError('request: manifest must be a sha256 hex id');
  if (!Number.isInteger(index) || (index as number) < 0)
    throw new PieceProtocolError('request: index must be a non-negative integer');
  return { manifest, index: index as number };
}

export function encodeReferral(r: Refusal): Uint8Array {
  return utf8(JSON.stringify({ reason: r.reason, holders: r.referrals.slice(0, MAX_REFERRED_HOLDERS) }));
}

/**
 * Parses a referral, keeping only what checks out: at most MAX_REFERRED_HOLDERS holders, each a
 * valid peer id with its own WebRTC addresses (dialableAddrs). Never throws: a malformed referral
 * refers nowhere (the asker then treats it as a plain BUSY).
 */
export function decodeReferral(bytes: Uint8Array): Refusal {
  let value: Record<string, unknown>;
  try {
    value = decodeJsonMessage(bytes, MAX_REFERRAL_BYTES, 'referral', (why) => new PieceProtocolError(why));
  } catch (e) {
    return { reason: (e as Error).message, referrals: [] };
  }
  const reason = typeof value.reason === 'string' ? value.reason.slice(0, 200) : '';
  const holders = Array.isArray(value.holders) ? value.holders.slice(0, MAX_REFERRED_HOLDERS) : [];
  const referrals = holders.flatMap((h: unknown): Referral[] => {
    if (typeof h !== 'object' || h === null) return [];
    const { peer, addrs, has } = h as Record<string, unknown>;
    if (typeof peer !== 'string' || typeof has !== 'boolean' || !Array.isArray(addrs)) return [];
    try {
      peerIdFromString(peer);
    } catch {
      return [];
    }
    return [{ peer, has, addrs: dialableAddrs(peer, addrs).map(String) }];
  });
  return { reason, referrals };
}

/** Counters a piece server keeps: what it uploaded, what it refused. */
export interface UploadStats {
  uploadedBytes: number;
  piecesServed: number;
  refused: number;
}

export interface PieceServerOptions {
  /** The manifest a request names, if this node serves it. */
  manifest(id: string): PieceManifest | undefined;
  store: PieceStore;
  stats?: UploadStats;
  /** Called with each refused request, for the log. */
  onRefused?(peer: string, status: PieceStatus, reason: string): void;
  /** Admission policy beyond the server's own budgets (the seed's super-seeding). */
  policy?: UploadPolicy;
  /** Time of the read and send deadlines (tests pass a manual one). */
  clock?: Clock;
}

/** Why a policy does not serve a request now, and the tabs it refers the asker to instead. */
export interface Refusal {
  reason: string;
  referrals: Referral[];
}

/** Which valid requests a server serves now, told what came of each it admitted. */
export interface UploadPolicy {
  /** A refusal to answer REFERRED with, or undefined to serve. */
  admit(peer: string, req: PieceRequest): Refusal | undefined;
  /** The reply to an admitted request went out whole (`delivered`), or failed. */
  settle(peer: string, req: PieceRequest, delivered: boolean): void;
}

export interface SuperSeedingOptions {
  /** How long after a piece's first copy went out other askers are sent to its holders. */
  intervalMs: number;
  /** How long one asker is sent elsewhere for one piece, from its first BUSY, before it is served anyway. */
  referralMs: number;
  /** Whether `peer` is still connected (a copy going out to it will be offered soon). */
  connected(peer: string): boolean;
  /** Whether `peer` offers the piece to others now (the seed: it is connected and announces it). */
  offers(peer: string, req: PieceRequest): boolean;
  /** Where `peer` can be dialled, as it announced (the referral passes them on). */
  addrs(peer: string, req: PieceRequest): string[];
  now?(): number;
}

/** Referral clocks kept at most; the oldest go first (an asker that comes back starts a new one). */
const MAX_REFERRALS = 65_536;
/** Pieces tracked before expired ones are pruned. */
const MAX_TRACKED_PIECES = 4_096;

/**
 * The seed's admission policy (BitTorrent's super-seeding): once a piece is going out to a tab (still
 * connected) or went out to one that offers it (announces it), a request for it from another tab is
 * answered REFERRED, for up to `intervalMs` from the first copy: the reply names up to
 * MAX_REFERRED_HOLDERS of those tabs (taken in turn, so askers spread over them), and the asker fetches
 * it from them. A holder that keeps quiet (a stranger that requests everything and keeps it) is no
 * reason to refer anyone; one that announces the piece and never serves it costs each asker at most
 * `referralMs` per piece, from its first referral: then the asker is served, whoever holds the piece.
 * A request whose reply never went out whole does not count as a copy.
 */
export function superSeeding(o: SuperSeedingOptions): UploadPolicy {
  const now = o.now ?? Date.now;
  const copies = new Map<string, { at: number; sending: Set<string>; holders: Set<string> }>();
  /** Where the next referral starts in the list of holders (askers spread over them). */
  let turn = 0;
  /** `${asker} ${piece key}` -> when it was first sent elsewhere for that piece. */
  const referred = new Map<string, number>();
  const keyOf = (req: PieceRequest) => `${req.manifest}/${req.index}`;
  const live = (key: string, t: number) => {
    const c = copies.get(key);
    return c && t - c.at < o.intervalMs ? c : undefined;
  };
  const prune = (t: number) => {
    if (copies.size > MAX_TRACKED_PIECES)
      for (const [key, c] of copies) if (t - c.at >= o.intervalMs && c.sending.size === 0) copies.delete(key);
    for (const asker of referred.keys()) {
      if (referred.size <= MAX_REFERRALS) break;
      referred.delete(asker);
    }
  };
  return {
    admit(peer, req) {
      const t = now();
      const key = keyOf(req);
      const c = live(key, t);
      const holders: Omit<Referral, 'addrs'>[] = c
        ? [
            ...[...c.holders].filter((p) => o.offers(p, req)).map((p) => ({ peer: p, has: true })),
            ...[...c.sending].filter(o.connected).map((p) => ({ peer: p, has: false })),
          ].filter((h) => h.peer !== peer)
        : [];
      const asker = `${peer} ${key}`;
      const since = referred.get(asker) ?? t;
      if (holders.length > 0 && t - since < o.referralMs) {
        referred.set(asker, since);
        prune(t);
        const start = turn++ % holders.length;
        const named = [...holders.slice(start), ...holders.slice(0, start)].slice(0, MAX_REFERRED_HOLDERS);
        return {
          reason: `piece ${req.index} is offered by ${holders.length} tab(s): fetch it from them`,
          referrals: named.map((h) => ({ ...h, addrs: o.addrs(h.peer, req) })),
        };
      }
      referred.delete(asker);
      // The interval runs from the first copy that is going out or went out (failed ones do not count).
      const entry =
        c && c.sending.size + c.holders.size > 0
          ? c
          : { at: t, sending: new Set<string>(), holders: new Set<string>() };
      entry.sending.add(peer);
      copies.set(key, entry);
      return undefined;
    },
    settle(peer, req, delivered) {
      const c = copies.get(keyOf(req));
      if (!c) return;
      c.sending.delete(peer);
      if (delivered) c.holders.add(peer);
    },
  };
}

/**
 * The stream handler that serves pieces: validates, keeps within its budgets (uploads in all and
 * per peer, time to read the request and to send the reply), never throws out.
 */
export function pieceServer(opts: PieceServerOptions): StreamHandler {
  let active = 0;
  const activeByPeer = heldByKey();
  const clock = opts.clock ?? systemClock;
  return async (stream: Stream, connection: Connection) => {
    const peer = connection.remotePeer.toString();
    const lp = lpStream(stream, { maxDataLength: MAX_PIECE_REQUEST_BYTES });
    // One reply per stream, then the stream closes. A peer that stops reading must not hold an
    // upload slot (or the stream): every reply has a deadline.
    const reply = (status: PieceStatus, body: Uint8Array) => {
      const frame = new Uint8Array(1 + body.length);
      frame[0] = status;
      frame.set(body, 1);
      return withDeadline(clock, PIECE_SEND_TIMEOUT_MS, async (signal) => {
        await lp.write(frame, { signal });
        await closeBothEnds(stream, signal);
      });
    };
    const refuse = async (status: PieceStatus, reason: string, body = utf8(reason)) => {
      if (opts.stats) opts.stats.refused++;
      opts.onRefused?.(peer, status, reason);
      await reply(status, body);
    };
    /** Why `req` is not served now, or undefined: it is admitted and holds an upload slot. */
    const refusal = (req: PieceRequest): [PieceStatus, string, Uint8Array?] | undefined => {
      if (active >= MAX_CONCURRENT_UPLOADS) return [PieceStatus.Busy, 'busy'];
      if (activeByPeer.count(peer) >= MAX_UPLOADS_PER_PEER)
        return [PieceStatus.Busy, `busy: at most ${MAX_UPLOADS_PER_PEER} pieces at once per peer`];
      const m = opts.manifest(req.manifest);
      if (!m || req.index >= m.pieces.length)
        return [PieceStatus.NotFound, `no piece ${req.index} of ${req.manifest.slice(0, 12)}`];
      const referral = opts.policy?.admit(peer, req);
      return referral ? [PieceStatus.Referred, referral.reason, encodeReferral(referral)] : undefined;
    };
    try {
      let req: PieceRequest;
      try {
        req = decodePieceRequest(
          (await withDeadline(clock, REQUEST_READ_TIMEOUT_MS, (signal) => lp.read({ signal }))).subarray(),
        );
      } catch (e) {
        return await refuse(PieceStatus.BadRequest, `bad request: ${(e as Error).message}`);
      }
      const refused = refusal(req);
      if (refused) return await refuse(...refused);
      // Admitted: the request holds an upload slot until its reply went out (or failed).
      active++;
      activeByPeer.take(peer);
      let delivered = false;
      try {
        const m = opts.manifest(req.manifest)!;
        const bytes = await opts.store.get(m.pieces[req.index]!);
        const [start, end] = pieceRange(m, req.index);
        if (!bytes || bytes.length !== end - start)
          return await refuse(PieceStatus.NotFound, `piece ${req.index} not held`);
        await reply(PieceStatus.Ok, bytes);
        delivered = true;
        if (opts.stats) {
          opts.stats.uploadedBytes += bytes.length;
          opts.stats.piecesServed++;
        }
      } finally {
        opts.policy?.settle(peer, req, delivered);
        active--;
        activeByPeer.release(peer);
      }
    } catch (e) {
      stream.abort(e as Error);
    }
  };
}

/**
 * Asks for one piece on an open stream and returns its bytes, unverified (the caller checks the
 * hash). Throws PieceProtocolError with the server's status on a refusal.
 */
export async function requestPiece(stream: Stream, req: PieceRequest, options: AbortOptions = {}): Promise<Uint8Array> {
  const lp = lpStream(stream, { maxDataLength: MAX_PIECE_REPLY_BYTES });
  try {
    await lp.write(encodePieceRequest(req), options);
    const frame = (await lp.read(options)).subarray();
    if (frame.length === 0) throw new PieceProtocolError('empty reply');
    const status = frame[0] as PieceStatus;
    if (status === PieceStatus.Referred) {
      const { reason, referrals } = decodeReferral(frame.subarray(1));
      throw new PieceProtocolError(`piece ${req.index} referred elsewhere: ${reason}`, status, referrals);
    }
    if (status !== PieceStatus.Ok) {
      let text = '';
      try {
        text = fromUtf8(frame.subarray(1, 200));
      } catch {
        /* not text: keep the status alone */
      }
      throw new PieceProtocolError(`piece ${req.index} refused (status ${status}): ${text}`, status);
    }
    await stream.close(options);
    return frame.subarray(1);
  } catch (e) {
    stream.abort(e as Error);
    throw e;
  }
}
