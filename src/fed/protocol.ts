// `/vgpu/update/3.0.0`: a volunteer's direct stream to the seed. Four requests:
//   join:     header {type: 'join'}                        -> {type: 'joined', round}
//   leave:    header {type: 'leave'}                       -> {type: 'left'}
//             (the volunteer holds for a while: outside its hours, a dirty grid; it joins again later)
//   update:   header {type: 'update', round, weights, bytes, ...}
//                                                          -> {type: 'continue'} or a refusal
//             the encoded update (exactly `bytes` long)    -> {type: 'received', update} or
//                                                             {type: 'rejected', reason}
//   receipts: header {type: 'receipts', since}             -> {type: 'receipts', receipts, rejected,
//                                                             closedThrough}
// Receipts are signed once the round's checkpoint is durable, so a volunteer asks for them after the
// round closed (closedThrough: the last round whose receipts were issued; an update of a round up to
// it with no receipt was not credited).
// The seed knows who is talking from the connection (Noise authenticates the peer's key), and
// admits an update from its header before it reads a byte of the body: a stranger's update is
// refused before it costs memory. Every frame is length-prefixed and bounded, every read and
// write has a deadline, and each peer has a request budget. A refusal is {refused: reason}
// (unsigned: nothing was received), with retryInMs when it passes (the seed busy with other bodies,
// the peer's budget spent), a malformed request {error}; the stream then ends.

import type { AbortOptions, Connection, Stream, StreamHandler } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { closeBothEnds, decodeJsonMessage, isSha256Hex, type SignedDocument, utf8 } from '../swarm';
import { heldByKey, requestBudget } from '../util/budget';
import { type Clock, systemClock, withDeadline } from '../util/clock';
import { ADAPTER_CLASSES, type AdapterClass } from './impact';

export const UPDATE_PROTOCOL = '/vgpu/update/3.0.0';
/** Gossip topic of the seed's signed round manifests (the page also polls /round.json). */
export { ROUND_TOPIC } from '../swarm';

/** Largest request or reply header (JSON). */
export const MAX_UPDATE_HEADER_BYTES = 4 * 1024;
/** Largest encoded update: a dense fp32 vector of a 16M-parameter model. */
export const MAX_UPDATE_BYTES = 64 * 1024 * 1024;
/** Largest reply (receipts: RECEIPTS_PER_REPLY signed receipts of well under 1 KiB, and reasons). */
export const MAX_UPDATE_REPLY_BYTES = 64 * 1024;
/** Receipts in one reply; a volunteer with more to fetch asks again from the next round. */
export const RECEIPTS_PER_REPLY = 32;
/** Longest rejection reason sent back. */
const MAX_REASON_CHARS = 200;
/** Time for the header to arrive once the stream is open. */
export const UPDATE_HEADER_TIMEOUT_MS = 10_000;
/**
 * Slowest upload a body may take: its deadline is UPDATE_HEADER_TIMEOUT_MS plus its bytes at this
 * rate (a dense int8 update of the 32 MiB preset, 8.6 MB, gets 77 s).
 */
export const MIN_UPDATE_BYTES_PER_S = 128 * 1024;
/** Time to write a reply. */
export const UPDATE_REPLY_TIMEOUT_MS = 10_000;
/** Update streams one connection may have open at once (a join and an update). */
export const MAX_UPDATE_STREAMS_PER_CONNECTION = 2;
/** When the seed is busy receiving other bodies, the sender is told to come back this much later. */
export const UPDATE_BUSY_RETRY_MS = 5_000;
/** The longest wait a refusal may ask for: a larger retryInMs (a hostile seed's) is not believed. */
export const MAX_REFUSAL_RETRY_MS = 60_000;
/** Update bodies one peer may be sending at once. */
export const MAX_UPDATES_IN_FLIGHT_PER_PEER = 1;
/** Body bytes being received at once, all peers together; an update over it is told to come back. */
export const MAX_UPDATE_BYTES_IN_FLIGHT = 256 * 1024 * 1024;
/**
 * Requests (joins, updates and receipts) one peer may make per minute: an honest tab joins once and,
 * per round, sends one update and asks once for its receipts, with a few retries; rounds as short as
 * 5 s (a small model on fast volunteers) make 24 a minute. The volunteer paces itself below it
 * (requestPacer, util/budget.ts), so that shorter rounds slow it down instead of having it refused.
 */
export const MAX_UPDATE_REQUESTS_PER_MINUTE = 30;

export interface UpdateHeader {
  type: 'update';
  round: number;
  /** Id of the weights manifest the volunteer started from. */
  weights: string;
  /** Length of the encoded update that follows. */
  bytes: number;
  tokens: number;
  steps: number;
  /** Training loss of the first and last local step. */
  lossFirst: number;
  lossLast: number;
  /**
   * What the volunteer measured and chose, for its impact figures (impact.ts): its GPU-busy time in
   * the round, its adapter's class, and the grid region it picked. Optional, and believed only within
   * bounds: the busy time is capped by the round's length, and credits never depend on them.
   */
  gpuMs?: number;
  adapter?: AdapterClass;
  region?: string;
}

/** What became of an update that arrived whole (unsigned: the receipt comes once the round is checkpointed). */
export type UpdateOutcome = { type: 'received'; update: string } | { type: 'rejected'; reason: string };

/** A volunteer's receipts and rejections of rounds `since` and later. */
export interface ReceiptsReply {
  type: 'receipts';
  receipts: SignedDocument[];
  rejected: { round: number; reason: string }[];
  /** The last round whose receipts were issued (-1: none yet). */
  closedThrough: number;
}

export class UpdateProtocolError extends Error {
  override name = 'UpdateProtocolError';
}

/**
 * The seed refused the request from its header (late, not assigned, busy, …); `reason` says why, and
 * `retryInMs`, when the refusal passes, when to ask again.
 */
export class UpdateRefusedError extends UpdateProtocolError {
  override name = 'UpdateRefusedError';
  constructor(
    readonly reason: string,
    readonly retryInMs?: number,
  ) {
    super(`the seed refused the update: ${reason}`);
  }
}

const fail = (why: string) => new UpdateProtocolError(why);

export function parseUpdateHeader(
  bytes: Uint8Array,
): UpdateHeader | { type: 'join' } | { type: 'leave' } | { type: 'receipts'; since: number } {
  const h = decodeJsonMessage(bytes, MAX_UPDATE_HEADER_BYTES, 'update header', fail);
  if (h.type === 'join') return { type: 'join' };
  if (h.type === 'leave') return { type: 'leave' };
  if (h.type === 'receipts') {
    if (!Number.isInteger(h.since) || (h.since as number) < 0)
      throw fail('receipts request: since must be a non-negative integer');
    return { type: 'receipts', since: h.since as number };
  }
  if (h.type !== 'update') throw fail(`update header: unknown type ${String(h.type)}`);
  const int = (k: string) => Number.isInteger(h[k]) && (h[k] as number) >= 0;
  if (!int('round') || !int('tokens') || !int('steps') || !int('bytes'))
    throw fail('update header: round, bytes, tokens and steps must be non-negative integers');
  if ((h.bytes as number) > MAX_UPDATE_BYTES) throw fail(`update header: bytes over ${MAX_UPDATE_BYTES}`);
  if (!isSha256Hex(h.weights)) throw fail('update header: weights must be a manifest id');
  if (typeof h.lossFirst !== 'number' || typeof h.lossLast !== 'number')
    throw fail('update header: lossFirst and lossLast must be numbers');
  if (h.gpuMs !== undefined && !(typeof h.gpuMs === 'number' && h.gpuMs >= 0 && Number.isFinite(h.gpuMs)))
    throw fail('update header: gpuMs must be a non-negative number');
  if (h.adapter !== undefined && !ADAPTER_CLASSES.includes(h.adapter as AdapterClass))
    throw fail(`update header: adapter must be one of ${ADAPTER_CLASSES.join(', ')}`);
  if (h.region !== undefined && !(typeof h.region === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(h.region)))
    throw fail('update header: region must be a grid region id');
  return h as unknown as UpdateHeader;
}

export interface UpdateServerOptions {
  /** A volunteer asks to take part; returns the round it will be assigned in. */
  onJoin(peer: string): number;
  /** A volunteer holds for a while: it is assigned no round until it joins again. */
  onLeave(peer: string): void;
  /** Why the update this header announces is not taken (checked before its body is read), or undefined. */
  admit(peer: string, header: UpdateHeader): string | undefined;
  /** An admitted update arrived whole; says whether it was received. */
  onUpdate(peer: string, header: UpdateHeader, body: Uint8Array): Promise<UpdateOutcome>;
  /** `peer`'s receipts and rejections of rounds `since` and later (a helper asks its root for them). */
  onReceipts(peer: string, since: number): ReceiptsReply | Promise<ReceiptsReply>;
  /** A malformed, refused or over-budget request, for the log. */
  onError?(peer: string, message: string): void;
  /** Time of the deadlines and the request budget (tests pass a manual one). */
  clock?: Clock;
}

export function updateServer(opts: UpdateServerOptions): StreamHandler {
  const sendingByPeer = heldByKey();
  let bytesInFlight = 0;
  return requestServer({
    clock: opts.clock,
    requestsPerMinute: MAX_UPDATE_REQUESTS_PER_MINUTE,
    parse: parseUpdateHeader,
    onError: opts.onError,
    async serve(peer, h, readBody) {
      if (h.type === 'join') return { type: 'joined', round: opts.onJoin(peer) };
      if (h.type === 'leave') {
        opts.onLeave(peer);
        return { type: 'left' };
      }
      if (h.type === 'receipts') return boundedReceipts(await opts.onReceipts(peer, h.since));
      const refused = opts.admit(peer, h);
      if (refused) return { refused };
      if (sendingByPeer.count(peer) >= MAX_UPDATES_IN_FLIGHT_PER_PEER)
        return { refused: 'an update from you is already arriving' };
      if (bytesInFlight + h.bytes > MAX_UPDATE_BYTES_IN_FLIGHT)
        return { refused: 'busy: try again in a moment', retryInMs: UPDATE_BUSY_RETRY_MS };
      sendingByPeer.take(peer);
      bytesInFlight += h.bytes;
      try {
        return boundedOutcome(await opts.onUpdate(peer, h, await readBody(h.bytes, 'update')));
      } finally {
        bytesInFlight -= h.bytes;
        sendingByPeer.release(peer);
      }
    },
  });
}

/** A receipts reply within the protocol's bounds: at most RECEIPTS_PER_REPLY receipts, reasons cut short. */
export function boundedReceipts(r: ReceiptsReply): ReceiptsReply {
  return {
    ...r,
    receipts: r.receipts.slice(0, RECEIPTS_PER_REPLY),
    rejected: r.rejected.map((x) => ({ ...x, reason: x.reason.slice(0, MAX_REASON_CHARS) })),
  };
}

/** An outcome within the protocol's bounds: a rejection's reason cut short. */
export function boundedOutcome(outcome: UpdateOutcome): UpdateOutcome {
  return outcome.type === 'rejected' ? { ...outcome, reason: outcome.reason.slice(0, MAX_REASON_CHARS) } : outcome;
}

/**
 * The shape every request of the update protocol and the helper protocol (helper-protocol.ts) has:
 * within the peer's request budget, a bounded JSON header read under a deadline, then what `serve`
 * replies, one JSON message; `serve` may first read a body, announced by the header, with
 * `readBody` (which tells the sender to continue). A refusal ({refused}) or a malformed request
 * ({error}) is reported to onError. The stream then ends.
 */
export function requestServer<H>(opts: {
  clock?: Clock;
  requestsPerMinute: number;
  /** Largest header; default MAX_UPDATE_HEADER_BYTES. */
  maxHeaderBytes?: number;
  /** Why this peer may not ask anything (checked before its header is read), or undefined. */
  refusePeer?(peer: string): string | undefined;
  parse(bytes: Uint8Array): H;
  serve(peer: string, header: H, readBody: (bytes: number, what: string) => Promise<Uint8Array>): Promise<unknown>;
  onError?(peer: string, message: string): void;
}): StreamHandler {
  const clock = opts.clock ?? systemClock;
  const withinBudget = requestBudget(opts.requestsPerMinute, 60_000, clock);
  return async (stream: Stream, connection: Connection) => {
    const peer = connection.remotePeer.toString();
    // The framing reads headers at most maxHeaderBytes long, until a body is admitted.
    let lp = lpStream(stream, { maxDataLength: opts.maxHeaderBytes ?? MAX_UPDATE_HEADER_BYTES });
    const send = (value: unknown) =>
      withDeadline(clock, UPDATE_REPLY_TIMEOUT_MS, (signal) => lp.write(utf8(JSON.stringify(value)), { signal }));
    const readBody = async (bytes: number, what: string) => {
      await send({ type: 'continue' });
      // Framing bounded by what the header announced (over 4 MiB the read buffer must be told too,
      // or it resets the frame).
      lp = lpStream(lp.unwrap(), { maxDataLength: bytes, maxBufferSize: bytes + 16 });
      const deadline = UPDATE_HEADER_TIMEOUT_MS + (1000 * bytes) / MIN_UPDATE_BYTES_PER_S;
      const body = (await withDeadline(clock, deadline, (signal) => lp.read({ signal }))).subarray();
      if (body.length !== bytes) throw fail(`the ${what} is ${body.length} bytes, its header said ${bytes}`);
      return body;
    };
    const serve = async (): Promise<unknown> => {
      const refused = opts.refusePeer?.(peer);
      if (refused) return { refused };
      if (!withinBudget(peer))
        return {
          refused: `too many requests: at most ${opts.requestsPerMinute} a minute`,
          retryInMs: Math.ceil(60_000 / opts.requestsPerMinute),
        };
      const header = opts.parse(
        (await withDeadline(clock, UPDATE_HEADER_TIMEOUT_MS, (signal) => lp.read({ signal }))).subarray(),
      );
      return opts.serve(peer, header, readBody);
    };
    try {
      let reply: unknown;
      try {
        reply = await serve();
      } catch (e) {
        reply = { error: (e as Error).message };
      }
      const { refused, error } = reply as { refused?: string; error?: string };
      if (refused !== undefined || error !== undefined) opts.onError?.(peer, (refused ?? error)!);
      await send(reply);
      await withDeadline(clock, UPDATE_REPLY_TIMEOUT_MS, (signal) => closeBothEnds(stream, signal));
    } catch (e) {
      stream.abort(e as Error);
    }
  };
}

/** Reads one JSON reply; a refusal or an error reply throws. */
async function readReply(
  lp: { read(options?: AbortOptions): Promise<{ subarray(): Uint8Array }> },
  options: AbortOptions,
): Promise<Record<string, unknown>> {
  const reply = decodeJsonMessage((await lp.read(options)).subarray(), MAX_UPDATE_REPLY_BYTES, 'seed reply', fail);
  if (typeof reply.refused === 'string') {
    const { retryInMs } = reply;
    const believed =
      typeof retryInMs === 'number' && retryInMs >= 0 && retryInMs <= MAX_REFUSAL_RETRY_MS ? retryInMs : undefined;
    throw new UpdateRefusedError(reply.refused, believed);
  }
  if (typeof reply.error === 'string') throw fail(`the seed refused: ${reply.error}`);
  return reply;
}

/** Sends one request header and reads its JSON reply (a refusal or an error reply throws). */
export async function request(
  stream: Stream,
  header: Record<string, unknown>,
  options: AbortOptions = {},
): Promise<Record<string, unknown>> {
  const lp = lpStream(stream, { maxDataLength: MAX_UPDATE_REPLY_BYTES });
  try {
    await lp.write(utf8(JSON.stringify(header)), options);
    const reply = await readReply(lp, options);
    await stream.close(options);
    return reply;
  } catch (e) {
    stream.abort(e as Error);
    throw e;
  }
}

/** Sends a header announcing `body`, then (once the server said continue) the body; returns the final reply. */
export async function requestWithBody(
  stream: Stream,
  header: Record<string, unknown>,
  body: Uint8Array,
  options: AbortOptions = {},
): Promise<Record<string, unknown>> {
  const lp = lpStream(stream, { maxDataLength: MAX_UPDATE_REPLY_BYTES });
  try {
    await lp.write(utf8(JSON.stringify({ ...header, bytes: body.length })), options);
    const go = await readReply(lp, options);
    if (go.type !== 'continue') throw fail('seed reply: expected {type: "continue"}');
    await lp.write(body, options);
    const reply = await readReply(lp, options);
    await stream.close(options);
    return reply;
  } catch (e) {
    stream.abort(e as Error);
    throw e;
  }
}

/** What became of an update or a partial, from the server's reply. */
export function parseOutcome(reply: Record<string, unknown>): UpdateOutcome {
  if (reply.type === 'received' && isSha256Hex(reply.update)) return { type: 'received', update: reply.update };
  if (reply.type === 'rejected' && typeof reply.reason === 'string') return { type: 'rejected', reason: reply.reason };
  throw fail('seed reply: expected {type: "received", update} or {type: "rejected", reason}');
}

/** Checks a receipts reply's shape (the receipts themselves are verified by the caller). */
export function parseReceiptsReply(reply: Record<string, unknown>): ReceiptsReply {
  const rejected = reply.rejected as ReceiptsReply['rejected'] | undefined;
  if (
    reply.type !== 'receipts' ||
    !Array.isArray(reply.receipts) ||
    !Array.isArray(rejected) ||
    !rejected.every((x) => Number.isInteger(x?.round) && typeof x.reason === 'string') ||
    !Number.isInteger(reply.closedThrough)
  )
    throw fail('seed reply: expected {type: "receipts", receipts, rejected, closedThrough}');
  return reply as unknown as ReceiptsReply;
}

/** Asks to take part; returns the round in which the seed will assign us a shard. */
export async function requestJoin(stream: Stream, options: AbortOptions = {}): Promise<number> {
  const reply = await request(stream, { type: 'join' }, options);
  if (reply.type !== 'joined' || !Number.isInteger(reply.round))
    throw fail('seed reply: expected {type: "joined", round}');
  return reply.round as number;
}

/** Says we hold for a while (outside our hours, a dirty grid): the seed assigns us nothing until we join again. */
export async function requestLeave(stream: Stream, options: AbortOptions = {}): Promise<void> {
  const reply = await request(stream, { type: 'leave' }, options);
  if (reply.type !== 'left') throw fail('seed reply: expected {type: "left"}');
}

/**
 * Sends an update: its header, then (once the seed admitted it) its body. Returns what became of it;
 * throws UpdateRefusedError when the seed refused it from its header.
 */
export async function sendUpdate(
  stream: Stream,
  header: Omit<UpdateHeader, 'bytes'>,
  body: Uint8Array,
  options: AbortOptions = {},
): Promise<UpdateOutcome> {
  if (body.length > MAX_UPDATE_BYTES) throw fail(`update is ${body.length} bytes, over ${MAX_UPDATE_BYTES}`);
  return parseOutcome(await requestWithBody(stream, { ...header }, body, options));
}

/** Asks for our receipts and rejections of rounds `since` and later (unverified: the caller verifies them). */
export async function requestReceipts(
  stream: Stream,
  since: number,
  options: AbortOptions = {},
): Promise<ReceiptsReply> {
  return parseReceiptsReply(await request(stream, { type: 'receipts', since }, options));
}
