// `/vgpu/update/1.0.0`: a volunteer's direct stream to the seed. Two requests:
//   join:   header {type: 'join'}                          -> {type: 'joined', round}
//   update: header {type: 'update', round, weights, ...}, then the encoded update
//                                                          -> a receipt signed by the seed
// The seed knows who is talking from the connection (Noise authenticates the peer's key).
// Every frame is length-prefixed and bounded; a malformed request gets {error} and the stream ends.

import type { AbortOptions, Connection, Stream, StreamHandler } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { decodeJsonMessage, isSha256Hex, type SignedDocument, utf8 } from '../swarm';

export const UPDATE_PROTOCOL = '/vgpu/update/1.0.0';
/** Gossip topic of the seed's signed round manifests (the page also polls /round.json). */
export const ROUND_TOPIC = 'vgpu/round/1';

/** Largest request or reply header (JSON). */
export const MAX_UPDATE_HEADER_BYTES = 4 * 1024;
/** Largest encoded update: a dense fp32 vector of a 16M-parameter model. */
export const MAX_UPDATE_BYTES = 64 * 1024 * 1024;
/** Largest reply (a signed receipt). */
export const MAX_UPDATE_REPLY_BYTES = 16 * 1024;
/** Time for the whole request to arrive once the stream is open. */
export const UPDATE_READ_TIMEOUT_MS = 120_000;
/** Update streams one connection may have open at once. */
export const MAX_UPDATE_STREAMS_PER_CONNECTION = 2;

export interface UpdateHeader {
  type: 'update';
  round: number;
  /** Id of the weights manifest the volunteer started from. */
  weights: string;
  tokens: number;
  steps: number;
  /** Training loss of the first and last local step. */
  lossFirst: number;
  lossLast: number;
}

export class UpdateProtocolError extends Error {
  override name = 'UpdateProtocolError';
}

const fail = (why: string) => new UpdateProtocolError(why);

export function parseUpdateHeader(bytes: Uint8Array): UpdateHeader | { type: 'join' } {
  const h = decodeJsonMessage(bytes, MAX_UPDATE_HEADER_BYTES, 'update header', fail);
  if (h.type === 'join') return { type: 'join' };
  if (h.type !== 'update') throw fail(`update header: unknown type ${String(h.type)}`);
  const int = (k: string) => Number.isInteger(h[k]) && (h[k] as number) >= 0;
  if (!int('round') || !int('tokens') || !int('steps'))
    throw fail('update header: round, tokens and steps must be non-negative integers');
  if (!isSha256Hex(h.weights)) throw fail('update header: weights must be a manifest id');
  if (typeof h.lossFirst !== 'number' || typeof h.lossLast !== 'number')
    throw fail('update header: lossFirst and lossLast must be numbers');
  return h as unknown as UpdateHeader;
}

export interface UpdateServerOptions {
  /** A volunteer asks to take part; returns the round it will be assigned in. */
  onJoin(peer: string): number;
  /** A complete update arrived; returns the signed receipt (accepted or rejected). */
  onUpdate(peer: string, header: UpdateHeader, body: Uint8Array): Promise<SignedDocument>;
  onError?(peer: string, message: string): void;
}

export function updateServer(opts: UpdateServerOptions): StreamHandler {
  return async (stream: Stream, connection: Connection) => {
    const peer = connection.remotePeer.toString();
    const lp = lpStream(stream, { maxDataLength: MAX_UPDATE_BYTES });
    const signal = AbortSignal.timeout(UPDATE_READ_TIMEOUT_MS);
    try {
      let reply: unknown;
      try {
        const header = parseUpdateHeader((await lp.read({ signal })).subarray());
        if (header.type === 'join') {
          reply = { type: 'joined', round: opts.onJoin(peer) };
        } else {
          const body = (await lp.read({ signal })).subarray();
          reply = await opts.onUpdate(peer, header, body);
        }
      } catch (e) {
        const message = (e as Error).message;
        opts.onError?.(peer, message);
        reply = { error: message };
      }
      await lp.write(utf8(JSON.stringify(reply)));
      await stream.close();
    } catch (e) {
      stream.abort(e as Error);
    }
  };
}

async function exchange(stream: Stream, frames: Uint8Array[], options: AbortOptions): Promise<Record<string, unknown>> {
  const lp = lpStream(stream, { maxDataLength: MAX_UPDATE_REPLY_BYTES });
  try {
    for (const frame of frames) await lp.write(frame, options);
    const reply = decodeJsonMessage((await lp.read(options)).subarray(), MAX_UPDATE_REPLY_BYTES, 'seed reply', fail);
    await stream.close(options);
    if (typeof reply.error === 'string') throw fail(`the seed refused: ${reply.error}`);
    return reply;
  } catch (e) {
    stream.abort(e as Error);
    throw e;
  }
}

/** Asks to take part; returns the round in which the seed will assign us a shard. */
export async function requestJoin(stream: Stream, options: AbortOptions = {}): Promise<number> {
  const reply = await exchange(stream, [utf8(JSON.stringify({ type: 'join' }))], options);
  if (reply.type !== 'joined' || !Number.isInteger(reply.round))
    throw fail('seed reply: expected {type: "joined", round}');
  return reply.round as number;
}

/** Sends an update; returns the seed's signed receipt, unverified (the caller verifies it). */
export async function sendUpdate(
  stream: Stream,
  header: UpdateHeader,
  body: Uint8Array,
  options: AbortOptions = {},
): Promise<SignedDocument> {
  if (body.length > MAX_UPDATE_BYTES) throw fail(`update is ${body.length} bytes, over ${MAX_UPDATE_BYTES}`);
  const reply = await exchange(stream, [utf8(JSON.stringify(header)), body], options);
  return reply as unknown as SignedDocument;
}
