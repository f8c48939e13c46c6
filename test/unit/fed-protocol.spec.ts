// `/vgpu/update/3.0.0` over in-memory stream pairs: the header parser, and the update server with
// the requester's side (requestJoin, sendUpdate, requestReceipts): replies, refusals (before any body
// is read), the server's budgets, and that a refused request does not stop the server from answering
// the next one.
import '../../src/seed/promise-shim';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { lpStream, streamPair } from '@libp2p/utils';
import { expect, test } from '@playwright/test';
import {
  MAX_REFUSAL_RETRY_MS,
  MAX_UPDATE_BYTES,
  MAX_UPDATE_BYTES_IN_FLIGHT,
  MAX_UPDATE_HEADER_BYTES,
  MAX_UPDATE_REPLY_BYTES,
  MAX_UPDATE_REQUESTS_PER_MINUTE,
  parseUpdateHeader,
  RECEIPTS_PER_REPLY,
  requestJoin,
  requestLeave,
  requestReceipts,
  sendUpdate,
  UPDATE_BUSY_RETRY_MS,
  type UpdateHeader,
  type UpdateOutcome,
  UpdateProtocolError,
  UpdateRefusedError,
  type UpdateServerOptions,
  updateServer,
} from '../../src/fed/protocol';
import { fromUtf8, utf8 } from '../../src/swarm/bytes';
import type { SignedDocument } from '../../src/swarm/signed';
import { createRandom } from '../../src/util/random';
import { manualClock } from '../harness/manual-clock';

const WEIGHTS = 'ab'.repeat(32);
const HEADER: UpdateHeader = {
  type: 'update',
  round: 4,
  weights: WEIGHTS,
  bytes: 3,
  tokens: 32,
  steps: 2,
  lossFirst: 4.1,
  lossLast: 3.9,
};
const RECEIVED: UpdateOutcome = { type: 'received', update: 'cd'.repeat(32) };
const FAKE_RECEIPT: SignedDocument = { body: '{"kind":"vgpu/receipt"}', signer: '12D3KooWfake', signature: 'c2ln' };

let alice: PeerId;
let bob: PeerId;

test.beforeAll(async () => {
  alice = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  bob = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
});

const json = (v: unknown) => utf8(JSON.stringify(v));

/** The UpdateProtocolError `fn` throws (or `p` rejects with). */
function protocolError(fn: () => unknown): UpdateProtocolError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an UpdateProtocolError').toBeInstanceOf(UpdateProtocolError);
  return err as UpdateProtocolError;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(Error);
  return e as Error;
}

test.describe('parseUpdateHeader', () => {
  test('accepts a join header (dropping extra fields) and an update header', () => {
    expect(parseUpdateHeader(json({ type: 'join' }))).toEqual({ type: 'join' });
    expect(parseUpdateHeader(json({ type: 'join', round: 'whatever' }))).toEqual({ type: 'join' });
    expect(parseUpdateHeader(json(HEADER))).toEqual(HEADER);
    // Zero counts, negative and zero losses are numbers too.
    const edge = { ...HEADER, round: 0, tokens: 0, steps: 0, lossFirst: -1, lossLast: 0 };
    expect(parseUpdateHeader(json(edge))).toEqual(edge);
  });

  test('a header of exactly MAX_UPDATE_HEADER_BYTES passes; one byte more is refused', () => {
    const base = json({ ...HEADER, pad: '' }).length;
    const padded = { ...HEADER, pad: 'x'.repeat(MAX_UPDATE_HEADER_BYTES - base) };
    const exact = json(padded);
    expect(exact.length).toBe(MAX_UPDATE_HEADER_BYTES);
    expect(parseUpdateHeader(exact)).toEqual(padded);
    const over = json({ ...HEADER, pad: 'x'.repeat(MAX_UPDATE_HEADER_BYTES - base + 1) });
    expect(protocolError(() => parseUpdateHeader(over)).message).toBe(
      `update header is ${MAX_UPDATE_HEADER_BYTES + 1} bytes, over ${MAX_UPDATE_HEADER_BYTES}`,
    );
  });

  test('refuses each malformed header with UpdateProtocolError and its reason', () => {
    const ints = 'update header: round, bytes, tokens and steps must be non-negative integers';
    const losses = 'update header: lossFirst and lossLast must be numbers';
    const without = (k: keyof UpdateHeader) => {
      const h: Record<string, unknown> = { ...HEADER };
      delete h[k];
      return json(h);
    };
    const cases: [string, Uint8Array, string][] = [
      ['not JSON', utf8('{type: update}'), 'update header is not JSON'],
      ['empty', new Uint8Array(0), 'update header is not JSON'],
      ['not UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 'update header is not JSON'],
      ['an array', json([HEADER]), 'update header is not a JSON object'],
      ['null', utf8('null'), 'update header is not a JSON object'],
      ['unknown type', json({ ...HEADER, type: 'upload' }), 'update header: unknown type upload'],
      ['no type', without('type'), 'update header: unknown type undefined'],
      ['negative round', json({ ...HEADER, round: -1 }), ints],
      ['float round', json({ ...HEADER, round: 1.5 }), ints],
      ['string round', json({ ...HEADER, round: '4' }), ints],
      ['missing round', without('round'), ints],
      ['negative tokens', json({ ...HEADER, tokens: -32 }), ints],
      ['float steps', json({ ...HEADER, steps: 0.5 }), ints],
      ['missing steps', without('steps'), ints],
      ['missing bytes', without('bytes'), ints],
      ['negative bytes', json({ ...HEADER, bytes: -1 }), ints],
      [
        'bytes over the cap',
        json({ ...HEADER, bytes: MAX_UPDATE_BYTES + 1 }),
        `update header: bytes over ${MAX_UPDATE_BYTES}`,
      ],
      [
        'short weights id',
        json({ ...HEADER, weights: 'ab'.repeat(31) }),
        'update header: weights must be a manifest id',
      ],
      [
        'uppercase weights id',
        json({ ...HEADER, weights: WEIGHTS.toUpperCase() }),
        'update header: weights must be a manifest id',
      ],
      ['missing weights', without('weights'), 'update header: weights must be a manifest id'],
      ['missing lossFirst', without('lossFirst'), losses],
      ['missing lossLast', without('lossLast'), losses],
      ['null loss (what JSON makes of NaN)', json({ ...HEADER, lossLast: Number.NaN }), losses],
      ['string loss', json({ ...HEADER, lossFirst: '4.1' }), losses],
    ];
    for (const [what, bytes, message] of cases) {
      const e = protocolError(() => parseUpdateHeader(bytes));
      expect(e.name, what).toBe('UpdateProtocolError');
      expect(e.message, what).toBe(message);
    }
  });
});

test.describe('updateServer', () => {
  interface Calls {
    joins: string[];
    leaves: string[];
    updates: { peer: string; header: UpdateHeader; body: Uint8Array }[];
    errors: { peer: string; message: string }[];
  }

  function server(over: Partial<UpdateServerOptions> = {}): { handler: StreamHandler; calls: Calls } {
    const calls: Calls = { joins: [], leaves: [], updates: [], errors: [] };
    const handler = updateServer({
      onJoin: (peer) => {
        calls.joins.push(peer);
        return 7;
      },
      onLeave: (peer) => void calls.leaves.push(peer),
      admit: () => undefined,
      onUpdate: async (peer, header, body) => {
        calls.updates.push({ peer, header, body: body.slice() });
        return RECEIVED;
      },
      onReceipts: (peer, since) => ({
        type: 'receipts',
        receipts: Array.from({ length: since }, () => FAKE_RECEIPT),
        rejected: [{ round: since, reason: `${peer} `.repeat(100) }],
        closedThrough: since + 1,
      }),
      onError: (peer, message) => calls.errors.push({ peer, message }),
      ...over,
    });
    return { handler, calls };
  }

  const fakeConnection = (peer: PeerId) => ({ remotePeer: peer }) as unknown as Connection;

  /** A fresh stream pair whose inbound end `handler` serves; the outbound end and the handler's run. */
  async function open(
    handler: StreamHandler,
    peer: PeerId = alice,
  ): Promise<{ stream: Stream; handled: Promise<void> }> {
    const [outbound, inbound] = await streamPair();
    return { stream: outbound, handled: Promise.resolve(handler(inbound, fakeConnection(peer))) };
  }

  async function join(handler: StreamHandler): Promise<number> {
    const { stream, handled } = await open(handler);
    try {
      return await requestJoin(stream);
    } finally {
      await handled;
    }
  }

  async function update(handler: StreamHandler, header: UpdateHeader, body: Uint8Array): Promise<UpdateOutcome> {
    const { stream, handled } = await open(handler);
    try {
      return await sendUpdate(stream, header, body);
    } finally {
      await handled;
    }
  }

  /** Raw frames out, the server's JSON reply back. */
  async function raw(handler: StreamHandler, frames: Uint8Array[]): Promise<Record<string, unknown>> {
    const { stream, handled } = await open(handler);
    const lp = lpStream(stream, { maxDataLength: MAX_UPDATE_REPLY_BYTES });
    for (const f of frames) await lp.write(f);
    const reply = JSON.parse(fromUtf8((await lp.read()).subarray())) as Record<string, unknown>;
    stream.abort(new Error('test done'));
    await handled;
    return reply;
  }

  test('requestReceipts: at most RECEIPTS_PER_REPLY receipts, reasons cut short; a bad `since` is an error', async () => {
    const s = server();
    const ask = async (since: number) => {
      const { stream, handled } = await open(s.handler);
      try {
        return await requestReceipts(stream, since);
      } finally {
        await handled;
      }
    };
    const few = await ask(2);
    expect(few).toMatchObject({ type: 'receipts', receipts: [FAKE_RECEIPT, FAKE_RECEIPT], closedThrough: 3 });
    expect(few.rejected[0]!.reason).toHaveLength(200);
    expect((await ask(RECEIPTS_PER_REPLY + 5)).receipts).toHaveLength(RECEIPTS_PER_REPLY);
    expect(await raw(s.handler, [json({ type: 'receipts', since: -1 })])).toEqual({
      error: 'receipts request: since must be a non-negative integer',
    });
    // A rejected update's reason is cut short too.
    const rejecting = server({ onUpdate: async () => ({ type: 'rejected', reason: 'x'.repeat(1000) }) });
    expect(await update(rejecting.handler, HEADER, new Uint8Array(3))).toEqual({
      type: 'rejected',
      reason: 'x'.repeat(200),
    });
  });

  test('requestJoin gets the round onJoin returns, and onJoin learns the peer from the connection', async () => {
    const s = server();
    expect(await join(s.handler)).toBe(7);
    expect(s.calls.joins).toEqual([alice.toString()]);
    expect(s.calls.updates).toEqual([]);
    expect(await raw(s.handler, [json({ type: 'join' })])).toEqual({ type: 'joined', round: 7 });
  });

  test('requestLeave tells onLeave who holds, from the connection', async () => {
    const s = server();
    const { stream, handled } = await open(s.handler);
    await requestLeave(stream);
    await handled;
    expect(s.calls.leaves).toEqual([alice.toString()]);
    expect(s.calls.joins).toEqual([]);
  });

  test("sendUpdate delivers the header and the exact body bytes, and returns onUpdate's reply", async () => {
    const s = server();
    // 300 KB of random bytes: many chunks on the way, none lost or reordered.
    const body = new Uint8Array(300_000);
    const next = createRandom(5);
    for (let i = 0; i < body.length; i++) body[i] = Math.floor(next() * 256);
    const reply = await update(s.handler, HEADER, body);
    expect(reply).toEqual(RECEIVED);
    expect(s.calls.updates.length).toBe(1);
    const got = s.calls.updates[0]!;
    expect(got.peer).toBe(alice.toString());
    expect(got.header).toEqual({ ...HEADER, bytes: body.length }); // sendUpdate states the body's length
    expect(got.body.length).toBe(body.length);
    expect(Buffer.compare(got.body, body)).toBe(0);
    // An empty body is carried as such.
    await update(s.handler, { ...HEADER, round: 5 }, new Uint8Array(0));
    expect(s.calls.updates[1]!.body.length).toBe(0);
    expect(s.calls.updates[1]!.header.round).toBe(5);
    expect(s.calls.errors).toEqual([]);
  });

  test('a malformed header gets {error}; the requester rejects with "the seed refused: …"; the next good request is served', async () => {
    const s = server();
    expect(await raw(s.handler, [utf8('not json'), new Uint8Array(4)])).toEqual({ error: 'update header is not JSON' });
    expect(await raw(s.handler, [json({ type: 'quit' })])).toEqual({ error: 'update header: unknown type quit' });
    const big = json({ ...HEADER, pad: 'x'.repeat(MAX_UPDATE_HEADER_BYTES) });
    // Refused from its length prefix, before it is read.
    expect(await raw(s.handler, [big])).toEqual({
      error: `Message length too long - ${big.length} > ${MAX_UPDATE_HEADER_BYTES}`,
    });

    const e = await rejection(update(s.handler, { ...HEADER, round: -1 }, new Uint8Array(8)));
    expect(e).toBeInstanceOf(UpdateProtocolError);
    expect(e.message).toBe(
      'the seed refused: update header: round, bytes, tokens and steps must be non-negative integers',
    );
    const e2 = await rejection(update(s.handler, { ...HEADER, weights: 'nope' }, new Uint8Array(8)));
    expect(e2.message).toBe('the seed refused: update header: weights must be a manifest id');

    expect(s.calls.updates).toEqual([]);
    expect(s.calls.errors).toEqual([
      { peer: alice.toString(), message: 'update header is not JSON' },
      { peer: alice.toString(), message: 'update header: unknown type quit' },
      { peer: alice.toString(), message: `Message length too long - ${big.length} > ${MAX_UPDATE_HEADER_BYTES}` },
      {
        peer: alice.toString(),
        message: 'update header: round, bytes, tokens and steps must be non-negative integers',
      },
      { peer: alice.toString(), message: 'update header: weights must be a manifest id' },
    ]);
    // Still serving, both kinds of request.
    expect(await update(s.handler, HEADER, new Uint8Array([1, 2, 3]))).toEqual(RECEIVED);
    expect(s.calls.updates.map((u) => [...u.body])).toEqual([[1, 2, 3]]);
    expect(await join(s.handler)).toBe(7);
  });

  test('onUpdate or onJoin throwing becomes an error reply, and the server keeps serving', async () => {
    let fail = true;
    const s = server({
      onUpdate: async () => {
        if (fail) throw new Error('no room for updates');
        return RECEIVED;
      },
      onJoin: () => {
        if (fail) throw new Error('the run is full');
        return 2;
      },
    });
    const e = await rejection(update(s.handler, HEADER, new Uint8Array(16)));
    expect(e).toBeInstanceOf(UpdateProtocolError);
    expect(e.message).toBe('the seed refused: no room for updates');
    const e2 = await rejection(join(s.handler));
    expect(e2).toBeInstanceOf(UpdateProtocolError);
    expect(e2.message).toBe('the seed refused: the run is full');
    expect(s.calls.errors.map((x) => x.message)).toEqual(['no room for updates', 'the run is full']);
    fail = false;
    expect(await update(s.handler, HEADER, new Uint8Array(16))).toEqual(RECEIVED);
    expect(await join(s.handler)).toBe(2);
  });

  test('the requester checks the reply: a join answered with something else is refused', async () => {
    // A rogue server: answers a join with a receipt-like object.
    const rogue: StreamHandler = async (stream) => {
      const lp = lpStream(stream);
      await lp.read();
      await lp.write(json({ type: 'receipt', round: 1 }));
      await stream.close();
    };
    const e = await rejection(join(rogue));
    expect(e).toBeInstanceOf(UpdateProtocolError);
    expect(e.message).toBe('seed reply: expected {type: "joined", round}');
  });

  test('sendUpdate refuses a body over MAX_UPDATE_BYTES before sending anything', async () => {
    const s = server();
    const { stream, handled } = await open(s.handler);
    const e = await rejection(sendUpdate(stream, HEADER, new Uint8Array(MAX_UPDATE_BYTES + 1)));
    expect(e).toBeInstanceOf(UpdateProtocolError);
    expect(e.message).toBe(`update is ${MAX_UPDATE_BYTES + 1} bytes, over ${MAX_UPDATE_BYTES}`);
    stream.abort(new Error('test done'));
    await handled;
    expect(s.calls.updates).toEqual([]);
  });

  test('an update refused from its header is never read: the requester gets UpdateRefusedError and sends no body', async () => {
    const s = server({ admit: (_peer, h) => (h.round === 4 ? 'late: round 4 is closed' : undefined) });
    const e = await rejection(update(s.handler, HEADER, new Uint8Array(1000)));
    expect(e).toBeInstanceOf(UpdateRefusedError);
    expect((e as UpdateRefusedError).reason).toBe('late: round 4 is closed');
    expect(e.message).toBe('the seed refused the update: late: round 4 is closed');
    expect(s.calls.updates).toEqual([]);
    expect(s.calls.errors).toEqual([{ peer: alice.toString(), message: 'late: round 4 is closed' }]);
    // A raw header gets the refusal as its one reply (no "continue").
    expect(await raw(s.handler, [json(HEADER)])).toEqual({ refused: 'late: round 4 is closed' });
    expect(await update(s.handler, { ...HEADER, round: 5 }, new Uint8Array(3))).toEqual(RECEIVED);
  });

  test('a body of another length than its header said is an error, and onUpdate never sees it', async () => {
    const s = server();
    const { stream, handled } = await open(s.handler);
    const lp = lpStream(stream, { maxDataLength: MAX_UPDATE_REPLY_BYTES });
    await lp.write(json({ ...HEADER, bytes: 10 }));
    expect(JSON.parse(fromUtf8((await lp.read()).subarray()))).toEqual({ type: 'continue' });
    await lp.write(new Uint8Array(20)); // longer than announced: the frame is refused from its prefix
    expect(JSON.parse(fromUtf8((await lp.read()).subarray()))).toEqual({ error: 'Message length too long - 20 > 10' });
    await handled;
    const short = await open(s.handler);
    const lp2 = lpStream(short.stream, { maxDataLength: MAX_UPDATE_REPLY_BYTES });
    await lp2.write(json({ ...HEADER, bytes: 10 }));
    await lp2.read();
    await lp2.write(new Uint8Array(4));
    expect(JSON.parse(fromUtf8((await lp2.read()).subarray()))).toEqual({
      error: 'the update is 4 bytes, its header said 10',
    });
    await short.handled;
    expect(s.calls.updates).toEqual([]);
  });

  test("an update larger than the stream library's 4 MiB default buffer arrives whole", async () => {
    const s = server();
    // A dense int8 update of the swarm-32mib preset is 8.55 MB.
    const body = new Uint8Array(8_550_000);
    body[0] = 1;
    body[body.length - 1] = 2;
    expect(await update(s.handler, HEADER, body)).toEqual(RECEIVED);
    const got = s.calls.updates[0]!.body;
    expect([got.length, got[0], got.at(-1)]).toEqual([body.length, 1, 2]);
  });

  test("a refusal's retryInMs is believed only within [0, MAX_REFUSAL_RETRY_MS]", async () => {
    /** A seed that refuses every request with `reply`. */
    const refusing =
      (reply: Record<string, unknown>): StreamHandler =>
      async (stream) => {
        const lp = lpStream(stream);
        await lp.read();
        await lp.write(json(reply));
        await stream.close();
      };
    const cases: [unknown, number | undefined][] = [
      [3_000, 3_000],
      [0, 0],
      [MAX_REFUSAL_RETRY_MS, MAX_REFUSAL_RETRY_MS],
      [MAX_REFUSAL_RETRY_MS + 1, undefined],
      [1e12, undefined],
      [-5, undefined],
      ['soon', undefined],
      [undefined, undefined],
    ];
    for (const [hint, believed] of cases) {
      const e = await rejection(join(refusing({ refused: 'busy', retryInMs: hint })));
      expect(e, String(hint)).toBeInstanceOf(UpdateRefusedError);
      expect((e as UpdateRefusedError).retryInMs, String(hint)).toBe(believed);
    }
  });

  test(`each peer has MAX_UPDATE_REQUESTS_PER_MINUTE (${MAX_UPDATE_REQUESTS_PER_MINUTE}) requests a minute; others are unaffected`, async () => {
    const clock = manualClock();
    const s = server({ clock });
    for (let i = 0; i < MAX_UPDATE_REQUESTS_PER_MINUTE; i++) expect(await join(s.handler)).toBe(7);
    const e = await rejection(join(s.handler));
    expect(e).toBeInstanceOf(UpdateRefusedError);
    expect(e.message).toContain(`too many requests: at most ${MAX_UPDATE_REQUESTS_PER_MINUTE} a minute`);
    // The refusal passes: it says when the budget has room again.
    expect((e as UpdateRefusedError).retryInMs).toBe(60_000 / MAX_UPDATE_REQUESTS_PER_MINUTE);
    expect(s.calls.joins).toHaveLength(MAX_UPDATE_REQUESTS_PER_MINUTE);
    // Another peer is served meanwhile.
    const { stream, handled } = await open(s.handler, bob);
    expect(await requestJoin(stream)).toBe(7);
    await handled;
    // The budget refills with time: one request per 60 s / MAX_UPDATE_REQUESTS_PER_MINUTE.
    clock.advance(60_000 / MAX_UPDATE_REQUESTS_PER_MINUTE);
    expect(await join(s.handler)).toBe(7);
    expect((await rejection(join(s.handler))).message).toMatch(/too many requests/);
  });

  test('bodies in flight are bounded: one per peer, MAX_UPDATE_BYTES_IN_FLIGHT in all; the budget comes back', async () => {
    const s = server();
    const peers = await Promise.all(
      Array.from({ length: MAX_UPDATE_BYTES_IN_FLIGHT / MAX_UPDATE_BYTES + 1 }, async () =>
        peerIdFromPrivateKey(await generateKeyPair('Ed25519')),
      ),
    );
    /** Announces a MAX_UPDATE_BYTES update as `peer` and sends no body; the first reply. */
    const announce = async (peer: PeerId) => {
      const o = await open(s.handler, peer);
      const lp = lpStream(o.stream, { maxDataLength: MAX_UPDATE_REPLY_BYTES });
      await lp.write(json({ ...HEADER, bytes: MAX_UPDATE_BYTES }));
      return { ...o, reply: JSON.parse(fromUtf8((await lp.read()).subarray())) as Record<string, unknown> };
    };
    const held = [];
    for (const peer of peers.slice(0, -1)) {
      const a = await announce(peer);
      expect(a.reply).toEqual({ type: 'continue' });
      held.push(a);
    }
    // The same peer again, and a new peer past the total, are refused before any body.
    expect((await announce(peers[0]!)).reply).toEqual({ refused: 'an update from you is already arriving' });
    expect((await announce(peers.at(-1)!)).reply).toEqual({
      refused: 'busy: try again in a moment',
      retryInMs: UPDATE_BUSY_RETRY_MS,
    });
    // The senders give up: their bytes are free again.
    for (const h of held) {
      h.stream.abort(new Error('gave up'));
      await h.handled;
    }
    expect((await announce(peers.at(-1)!)).reply).toEqual({ type: 'continue' });
  });
});
