// The piece pull protocol: one short stream per request. The requester writes one
// length-prefixed JSON frame {manifest, index}; the server answers one length-prefixed frame
// whose first byte is a status and whose rest is the piece (or an error text).

import type { AbortOptions, Connection, Stream, StreamHandler } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { decodeJsonMessage, fromUtf8, isSha256Hex, utf8 } from './bytes';
import {
  MAX_CONCURRENT_UPLOADS,
  MAX_PIECE_REPLY_BYTES,
  MAX_PIECE_REQUEST_BYTES,
  REQUEST_READ_TIMEOUT_MS,
} from './limits';
import { pieceRange, type WeightsManifest } from './manifest';

export const PIECE_PROTOCOL = '/vgpu/piece/1.0.0';

export enum PieceStatus {
  Ok = 0,
  NotFound = 1,
  BadRequest = 2,
  Busy = 3,
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

/** Counters a piece server keeps: what it uploaded, what it refused. */
export interface UploadStats {
  uploadedBytes: number;
  piecesServed: number;
  refused: number;
}

export interface PieceServerOptions {
  /** The manifest a request names, if this node serves it. */
  manifest(id: string): WeightsManifest | undefined;
  store: PieceStore;
  stats?: UploadStats;
  /** Called with each refused request, for the log. */
  onRefused?(peer: string, status: PieceStatus, reason: string): void;
  /** Admission policy: a reason to answer BUSY, or undefined to serve (the seed's super-seeding). */
  admit?(peer: string, req: PieceRequest): string | undefined;
}

/**
 * The seed's admission policy (BitTorrent's super-seeding): once a piece went out, a request for it
 * from another tab is answered BUSY while the tab that got it is still connected, for up to
 * `intervalMs`; the asker fetches it from that tab instead. After the interval, or once every
 * holder has left, another copy goes out.
 */
export function superSeeding(
  intervalMs: number,
  connected: (peer: string) => boolean,
  now: () => number = Date.now,
): (peer: string, req: PieceRequest) => string | undefined {
  const served = new Map<string, { at: number; to: Set<string> }>();
  return (peer, req) => {
    const key = `${req.manifest}/${req.index}`;
    const last = served.get(key);
    const holders = last && now() - last.at < intervalMs ? [...last.to].filter((p) => p !== peer && connected(p)) : [];
    if (holders.length > 0)
      return `piece ${req.index} is held by ${holders.length} connected tab(s): fetch it from them`;
    const entry = last && now() - last.at < intervalMs ? last : { at: now(), to: new Set<string>() };
    entry.to.add(peer);
    served.set(key, entry);
    return undefined;
  };
}

/** The stream handler that serves pieces: validates, limits concurrency, never throws out. */
export function pieceServer(opts: PieceServerOptions): StreamHandler {
  let active = 0;
  return async (stream: Stream, connection: Connection) => {
    const peer = connection.remotePeer.toString();
    const lp = lpStream(stream, { maxDataLength: MAX_PIECE_REQUEST_BYTES });
    const reply = (status: PieceStatus, body: Uint8Array) => {
      const frame = new Uint8Array(1 + body.length);
      frame[0] = status;
      frame.set(body, 1);
      return lp.write(frame);
    };
    const refuse = async (status: PieceStatus, reason: string) => {
      if (opts.stats) opts.stats.refused++;
      opts.onRefused?.(peer, status, reason);
      await reply(status, utf8(reason));
    };
    let counted = false;
    try {
      let req: PieceRequest;
      try {
        req = decodePieceRequest((await lp.read({ signal: AbortSignal.timeout(REQUEST_READ_TIMEOUT_MS) })).subarray());
      } catch (e) {
        await refuse(PieceStatus.BadRequest, `bad request: ${(e as Error).message}`);
        return;
      }
      // Counted once the request is in: idle streams must not make us BUSY for everyone.
      active++;
      counted = true;
      if (active > MAX_CONCURRENT_UPLOADS) return await refuse(PieceStatus.Busy, 'busy');
      const m = opts.manifest(req.manifest);
      if (!m || req.index >= m.pieces.length)
        return await refuse(PieceStatus.NotFound, `no piece ${req.index} of ${req.manifest.slice(0, 12)}`);
      const busy = opts.admit?.(peer, req);
      if (busy) return await refuse(PieceStatus.Busy, busy);
      const bytes = await opts.store.get(m.pieces[req.index]!);
      const [start, end] = pieceRange(m, req.index);
      if (!bytes || bytes.length !== end - start)
        return await refuse(PieceStatus.NotFound, `piece ${req.index} not held`);
      await reply(PieceStatus.Ok, bytes);
      if (opts.stats) {
        opts.stats.uploadedBytes += bytes.length;
        opts.stats.piecesServed++;
      }
      await stream.close();
    } catch (e) {
      stream.abort(e as Error);
    } finally {
      if (counted) active--;
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
