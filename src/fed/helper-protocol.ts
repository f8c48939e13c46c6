// Helper seeds and their root. A helper serves its own volunteers (pieces, signalling, their updates)
// and stands for them towards the root, over two protocols:
//
// `/vgpu/helper/1.0.0`, helper → root, one request per stream (the update protocol's shapes:
// protocol.ts's requestServer), only from the helpers the root's operator allowed (--allow-helper):
//   hello:    {type: 'hello', url}               -> {type: 'welcome'}    the helper's page, for /swarm.json
//   join:     {type: 'join', peer, address}      -> {type: 'joined', round}   a volunteer joined the helper
//   left:     {type: 'left', peer}               -> {type: 'ok'}         its connection to the helper closed
//   receipts: {type: 'receipts', peer, since}    -> that volunteer's receipts reply (signed by the root)
//   partial:  {type: 'partial', signed, bytes}   -> {type: 'continue'}, then the body (the mean of the
//             helper's accepted updates, fp32)   -> {type: 'received', update} or {type: 'rejected', reason}
//             `signed` is a document the helper signs: round, weights, each contributor's peer, the
//             sha256 and size of the update it sent, and the body's sha256.
//
// `/vgpu/helper-sample/1.0.0`, root → helper: {type: 'sample', round, peer} -> {type: 'sample', bytes},
// then the update as that volunteer sent it. The root checks its sha256 against the partial's, so a
// helper cannot show one update and have averaged another.
import type { AbortOptions, PeerId, PrivateKey, Stream, StreamHandler } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import {
  closeBothEnds,
  decodeJsonMessage,
  isSha256Hex,
  type SignedDocument,
  signDocument,
  utf8,
  verifyDocument,
} from '../swarm';
import { type Clock, systemClock, withDeadline } from '../util/clock';
import {
  boundedOutcome,
  boundedReceipts,
  MAX_UPDATE_BYTES,
  MAX_UPDATE_HEADER_BYTES,
  parseOutcome,
  parseReceiptsReply,
  type ReceiptsReply,
  request,
  requestServer,
  requestWithBody,
  UPDATE_HEADER_TIMEOUT_MS,
  UPDATE_REPLY_TIMEOUT_MS,
  type UpdateOutcome,
  UpdateProtocolError,
} from './protocol';

export const HELPER_PROTOCOL = '/vgpu/helper/1.0.0';
export const SAMPLE_PROTOCOL = '/vgpu/helper-sample/1.0.0';

/**
 * Contributors one partial may list: its signed document (about 160 bytes each) stays under the
 * swarm's 256 KiB bound on signed documents. A helper with more volunteers than this per round is
 * one that needs a sibling.
 */
export const MAX_PARTIAL_CONTRIBUTORS = 1024;
/** Largest helper request header: a partial's signed document and its envelope. */
export const MAX_HELPER_HEADER_BYTES = 320 * 1024;
/**
 * Requests one helper may make per minute: a join and a leave for each of its volunteers (up to
 * MAX_PARTIAL_CONTRIBUTORS a round, rounds of a minute or more), their receipts, one partial.
 */
export const MAX_HELPER_REQUESTS_PER_MINUTE = 6 * MAX_PARTIAL_CONTRIBUTORS;
/** Streams one helper connection may have open at once, each way. */
export const MAX_HELPER_STREAMS_PER_CONNECTION = 64;
/** Longest helper URL kept for /swarm.json. */
const MAX_URL_CHARS = 512;
/** Longest address text a helper reports for a volunteer. */
const MAX_ADDRESS_CHARS = 64;

/** A volunteer's update that went into a partial: who sent it, and the sha256 and size of its bytes. */
export interface Contributor {
  peer: string;
  update: string;
  bytes: number;
}

/** What a helper signs about a partial aggregate. */
export interface PartialTerms {
  kind: 'vgpu/partial';
  round: number;
  /** The round's weights manifest id. */
  weights: string;
  contributors: Contributor[];
  /** sha256 of the body: the fp32 mean of the contributors' updates. */
  body: string;
}

export interface PartialHeader {
  terms: PartialTerms;
  signed: SignedDocument;
  bytes: number;
}

export type HelperRequest =
  | { type: 'hello'; url: string }
  | { type: 'join'; peer: string; address?: string }
  | { type: 'left'; peer: string }
  | { type: 'receipts'; peer: string; since: number }
  | { type: 'partial'; signed: SignedDocument; bytes: number };

const fail = (why: string) => new UpdateProtocolError(why);
const isPeerText = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= 128;

/** Checks a helper request's shape (a partial's signature is checked by the server, which knows the helper). */
export function parseHelperRequest(bytes: Uint8Array): HelperRequest {
  const h = decodeJsonMessage(bytes, MAX_HELPER_HEADER_BYTES, 'helper request', fail);
  switch (h.type) {
    case 'hello':
      if (typeof h.url !== 'string' || h.url.length > MAX_URL_CHARS || !/^https?:\/\//.test(h.url))
        throw fail('hello: url must be an http(s) URL');
      return { type: 'hello', url: h.url };
    case 'join':
      if (!isPeerText(h.peer)) throw fail('join: peer must be a peer id');
      if (h.address !== undefined && (typeof h.address !== 'string' || h.address.length > MAX_ADDRESS_CHARS))
        throw fail('join: address must be a short string');
      return { type: 'join', peer: h.peer, address: h.address as string | undefined };
    case 'left':
      if (!isPeerText(h.peer)) throw fail('left: peer must be a peer id');
      return { type: 'left', peer: h.peer };
    case 'receipts':
      if (!isPeerText(h.peer) || !Number.isInteger(h.since) || (h.since as number) < 0)
        throw fail('receipts: peer must be a peer id and since a non-negative integer');
      return { type: 'receipts', peer: h.peer, since: h.since as number };
    case 'partial':
      if (!Number.isInteger(h.bytes) || (h.bytes as number) < 0 || (h.bytes as number) > MAX_UPDATE_BYTES)
        throw fail(`partial: bytes must be an integer up to ${MAX_UPDATE_BYTES}`);
      return { type: 'partial', signed: h.signed as SignedDocument, bytes: h.bytes as number };
    default:
      throw fail(`helper request: unknown type ${String(h.type)}`);
  }
}

/** Checks the terms a helper signed: shapes and bounds (the coordinator checks them against its round). */
export function parsePartialTerms(value: unknown): PartialTerms {
  const v = (value ?? {}) as Record<string, unknown>;
  if (v.kind !== 'vgpu/partial') throw fail('partial: not a vgpu/partial document');
  if (!Number.isInteger(v.round) || (v.round as number) < 0)
    throw fail('partial: round must be a non-negative integer');
  if (!isSha256Hex(v.weights) || !isSha256Hex(v.body)) throw fail('partial: weights and body must be sha256 hex');
  const list = v.contributors;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_PARTIAL_CONTRIBUTORS)
    throw fail(`partial: 1 to ${MAX_PARTIAL_CONTRIBUTORS} contributors`);
  const contributors = list.map((c: Record<string, unknown>) => {
    if (!isPeerText(c?.peer) || !isSha256Hex(c.update) || !Number.isInteger(c.bytes) || (c.bytes as number) < 0)
      throw fail('partial: each contributor is {peer, update (sha256), bytes}');
    return { peer: c.peer, update: c.update, bytes: c.bytes as number };
  });
  if (new Set(contributors.map((c) => c.peer)).size !== contributors.length)
    throw fail('partial: a contributor is listed twice');
  return { kind: 'vgpu/partial', round: v.round as number, weights: v.weights, contributors, body: v.body };
}

/** The root's side of the helper protocol. `helper` is the requesting helper's peer id. */
export interface HelperServerOptions {
  /** Why this peer may not act as a helper (not allowed), or undefined. */
  refuse(helper: string): string | undefined;
  onHello(helper: string, url: string): void;
  onJoin(helper: string, peer: string, address: string | undefined): number;
  onLeft(helper: string, peer: string): void;
  onReceipts(helper: string, peer: string, since: number): ReceiptsReply;
  /** Why a partial with these terms cannot be used, checked before its body is read; or undefined. */
  admitPartial(helper: string, partial: PartialHeader): string | undefined;
  onPartial(helper: string, partial: PartialHeader, body: Uint8Array): Promise<UpdateOutcome>;
  onError?(helper: string, message: string): void;
  clock?: Clock;
}

export function helperServer(opts: HelperServerOptions): StreamHandler {
  return requestServer({
    clock: opts.clock,
    requestsPerMinute: MAX_HELPER_REQUESTS_PER_MINUTE,
    maxHeaderBytes: MAX_HELPER_HEADER_BYTES,
    refusePeer: opts.refuse,
    parse: parseHelperRequest,
    onError: opts.onError,
    async serve(helper, h, readBody) {
      switch (h.type) {
        case 'hello':
          opts.onHello(helper, h.url);
          return { type: 'welcome' };
        case 'join':
          return { type: 'joined', round: opts.onJoin(helper, h.peer, h.address) };
        case 'left':
          opts.onLeft(helper, h.peer);
          return { type: 'ok' };
        case 'receipts':
          return boundedReceipts(opts.onReceipts(helper, h.peer, h.since));
        case 'partial': {
          const terms = (await verifyDocument(h.signed, helper, parsePartialTerms)).value;
          const partial = { terms, signed: h.signed, bytes: h.bytes };
          const refused = opts.admitPartial(helper, partial);
          if (refused) return { refused };
          return boundedOutcome(await opts.onPartial(helper, partial, await readBody(h.bytes, 'partial')));
        }
      }
    },
  });
}

// --- The helper's side.

export async function helperHello(stream: Stream, url: string, options: AbortOptions = {}): Promise<void> {
  const reply = await request(stream, { type: 'hello', url }, options);
  if (reply.type !== 'welcome') throw fail('root reply: expected {type: "welcome"}');
}

export async function helperJoin(
  stream: Stream,
  peer: string,
  address: string | undefined,
  options: AbortOptions = {},
): Promise<number> {
  const reply = await request(stream, { type: 'join', peer, address }, options);
  if (reply.type !== 'joined' || !Number.isInteger(reply.round))
    throw fail('root reply: expected {type: "joined", round}');
  return reply.round as number;
}

export async function helperLeft(stream: Stream, peer: string, options: AbortOptions = {}): Promise<void> {
  const reply = await request(stream, { type: 'left', peer }, options);
  if (reply.type !== 'ok') throw fail('root reply: expected {type: "ok"}');
}

export async function helperReceipts(
  stream: Stream,
  peer: string,
  since: number,
  options: AbortOptions = {},
): Promise<ReceiptsReply> {
  return parseReceiptsReply(await request(stream, { type: 'receipts', peer, since }, options));
}

/** Signs the terms with the helper's key and sends the partial; what became of it. */
export async function sendPartial(
  stream: Stream,
  key: PrivateKey,
  helper: PeerId,
  terms: Omit<PartialTerms, 'kind'>,
  body: Uint8Array,
  options: AbortOptions = {},
): Promise<UpdateOutcome> {
  const signed = await signDocument(key, helper, { kind: 'vgpu/partial', ...terms } satisfies PartialTerms);
  return parseOutcome(await requestWithBody(stream, { type: 'partial', signed }, body, options));
}

/** The helper's sample server: answers only the root, with the update `get` finds (as it was sent). */
export function sampleServer(opts: {
  root: string;
  get(round: number, peer: string): Promise<Uint8Array | undefined>;
  clock?: Clock;
}): StreamHandler {
  const clock = opts.clock ?? systemClock;
  return async (stream, connection) => {
    const lp = lpStream(stream, { maxDataLength: MAX_UPDATE_HEADER_BYTES });
    const send = (value: unknown) =>
      withDeadline(clock, UPDATE_REPLY_TIMEOUT_MS, (signal) => lp.write(utf8(JSON.stringify(value)), { signal }));
    try {
      if (connection.remotePeer.toString() !== opts.root) {
        await send({ refused: 'samples are for the root only' });
      } else {
        const h = decodeJsonMessage(
          (await withDeadline(clock, UPDATE_HEADER_TIMEOUT_MS, (signal) => lp.read({ signal }))).subarray(),
          MAX_UPDATE_HEADER_BYTES,
          'sample request',
          fail,
        );
        const body =
          h.type === 'sample' && Number.isInteger(h.round) && isPeerText(h.peer)
            ? await opts.get(h.round as number, h.peer)
            : undefined;
        if (!body) await send({ refused: 'no such update here' });
        else {
          await send({ type: 'sample', bytes: body.length });
          await withDeadline(clock, UPDATE_REPLY_TIMEOUT_MS, (signal) => lp.write(body, { signal }));
        }
      }
      await withDeadline(clock, UPDATE_REPLY_TIMEOUT_MS, (signal) => closeBothEnds(stream, signal));
    } catch (e) {
      stream.abort(e as Error);
    }
  };
}

/** The root asks a helper for one update behind its partial, at most `maxBytes` long. */
export async function fetchSample(
  stream: Stream,
  round: number,
  peer: string,
  maxBytes: number,
  options: AbortOptions = {},
): Promise<Uint8Array> {
  let lp = lpStream(stream, { maxDataLength: MAX_UPDATE_HEADER_BYTES });
  try {
    await lp.write(utf8(JSON.stringify({ type: 'sample', round, peer })), options);
    const h = decodeJsonMessage((await lp.read(options)).subarray(), MAX_UPDATE_HEADER_BYTES, 'sample reply', fail);
    if (typeof h.refused === 'string') throw fail(`the helper refused: ${h.refused}`);
    if (h.type !== 'sample' || !Number.isInteger(h.bytes) || (h.bytes as number) > maxBytes)
      throw fail(`sample reply: expected {type: "sample", bytes} of at most ${maxBytes} bytes`);
    const bytes = h.bytes as number;
    lp = lpStream(lp.unwrap(), { maxDataLength: bytes, maxBufferSize: bytes + 16 });
    const body = (await lp.read(options)).subarray();
    if (body.length !== bytes) throw fail(`the sample is ${body.length} bytes, its header said ${bytes}`);
    await stream.close(options);
    return body;
  } catch (e) {
    stream.abort(e as Error);
    throw e;
  }
}
