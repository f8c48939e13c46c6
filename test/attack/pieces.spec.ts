// Attacks on the seed's piece service (issue 13, items 2 and 3), by ordinary libp2p peers against a
// real seed whose time the test moves (a manual clock: deadlines are checked by state, not waited for).
// - Upload slots held by paused streams: strangers request pieces and stop reading. Each peer gets
//   MAX_UPLOADS_PER_PEER slots, a reply that does not drain in PIECE_SEND_TIMEOUT_MS is dropped.
// - Super-seeding lockout: a stranger fetches a piece and sits on it. Nobody is sent to a tab that
//   does not announce the piece; one that announces it and never serves it costs each asker
//   SEED_REFERRAL_MS at most, and the referral passes on only its own addresses, not another's.
import { lpStream } from '@libp2p/utils';
import { expect, test } from '@playwright/test';
import type { Seed } from '../../src/seed';
import {
  ANNOUNCE_TOPIC,
  encodeAnnouncement,
  encodePieceRequest,
  MAX_PIECE_STREAMS_PER_CONNECTION,
  PIECE_PROTOCOL,
  PIECE_SEND_TIMEOUT_MS,
  PieceProtocolError,
  type PieceRequest,
  PieceStatus,
  requestPiece,
  SEED_REFERRAL_MS,
} from '../../src/swarm';
import { emptyBitfield, setBit } from '../../src/swarm/announce';
import { type Attacker, attackers, createAttacker, dialSeed, openStream, startTestSeed } from '../harness/attacker';
import { type ManualClock, manualClock } from '../harness/manual-clock';

let seed: Seed;
let clock: ManualClock;
let stopSeed: () => Promise<void>;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  clock = manualClock();
  // The small model: 4 pieces of 1 MiB, each larger than a yamux window, so a reply can stall.
  ({ seed, stop: stopSeed } = await startTestSeed({ model: 'small', clock }));
  expect(seed.manifest.value.pieces.length).toBeGreaterThan(1);
});

test.afterAll(async () => {
  await stopSeed?.();
});

const pieceReq = (index: number): PieceRequest => ({ manifest: seed.manifest.id, index });

/** Piece streams the seed has open, all connections together. */
const seedPieceStreams = () =>
  seed.node
    .getConnections()
    .flatMap((c) => c.streams)
    .filter((s) => s.protocol === PIECE_PROTOCOL && s.status === 'open').length;

/**
 * Asks the seed for a piece as an honest peer would: 'ok', the status of a refusal, or for a referral
 * the tabs it names (peer id and addresses).
 */
async function ask(peer: Attacker, index: number): Promise<'ok' | PieceStatus | undefined | string[]> {
  try {
    const bytes = await requestPiece(await openStream(peer, seed, PIECE_PROTOCOL), pieceReq(index));
    expect(bytes.length).toBeGreaterThan(0);
    return 'ok';
  } catch (e) {
    if (e instanceof PieceProtocolError && e.status === PieceStatus.Referred)
      return e.referrals.map((r) => [r.peer, ...r.addrs].join(' '));
    if (e instanceof PieceProtocolError) return e.status;
    throw e;
  }
}

test('peers that request pieces and stop reading cannot keep an honest peer from being served', async () => {
  const pieces = seed.manifest.value.pieces.length;
  const gang = await attackers(4, seed);
  const honest = await createAttacker(); // an ordinary peer that reads its replies
  try {
    // Every attacker opens as many piece streams as a connection allows, requests (any piece but 0),
    // and stops reading.
    for (const peer of gang.peers) {
      for (let s = 0; s < MAX_PIECE_STREAMS_PER_CONNECTION; s++) {
        const stream = await openStream(peer, seed, PIECE_PROTOCOL);
        stream.pause(); // no more yamux window updates: the seed's reply write blocks
        await lpStream(stream).write(encodePieceRequest(pieceReq(1 + (s % (pieces - 1)))));
      }
    }
    // The attackers hold at most 2 slots each (8 of 32) and the rest were refused: the honest peer
    // is served at once.
    await expect.poll(() => seed.uploads.refused, { timeout: 30_000 }).toBeGreaterThanOrEqual(4 * 6);
    expect(await ask(honest, 0)).toBe('ok');
    // The stalled replies are dropped at their deadline, and the seed holds none of the streams.
    expect(seedPieceStreams()).toBeGreaterThan(0);
    clock.advance(PIECE_SEND_TIMEOUT_MS);
    await expect.poll(seedPieceStreams, { timeout: 30_000 }).toBe(0);
  } finally {
    await honest.stop();
    await gang.stop();
  }
});

test('a peer that fetches a piece and keeps quiet delays nobody; one that announces it and never serves it, SEED_REFERRAL_MS at most', async () => {
  const squatter = await createAttacker();
  const honest = await createAttacker();
  const index = 2;
  try {
    expect(await ask(squatter, index)).toBe('ok');
    expect(await ask(honest, index)).toBe('ok'); // the squatter does not offer it: no reason to wait
    // Another piece: the squatter takes it and announces that it holds it (and then serves nobody).
    const other = 3;
    expect(await ask(squatter, other)).toBe('ok');
    await dialSeed(squatter, seed);
    squatter.services.pubsub.subscribe(ANNOUNCE_TOPIC);
    const pieces = seed.manifest.value.pieces.length;
    const have = emptyBitfield(pieces);
    setBit(have, other);
    // Its own WebRTC address, and the honest peer's: a referral passes on only its own.
    const webrtc = (p: Attacker) => `/ip4/127.0.0.1/tcp/9/ws/p2p/${seed.peerId}/p2p-circuit/webrtc/p2p/${p.peerId}`;
    const addrs = [webrtc(squatter), webrtc(honest)];
    const claim = encodeAnnouncement({ manifest: seed.manifest.id, have, fetching: emptyBitfield(pieces), addrs });
    const referral = [`${squatter.peerId} ${webrtc(squatter)}`];
    // Announced until the seed has heard it: the next honest asker is referred to it.
    const late = await createAttacker();
    try {
      await expect
        .poll(async () => {
          await squatter.services.pubsub.publish(ANNOUNCE_TOPIC, claim).catch(() => {});
          return ask(late, other);
        })
        .toEqual(referral);
      // However long it keeps claiming, the asker is served once SEED_REFERRAL_MS passed since its first referral.
      await squatter.services.pubsub.publish(ANNOUNCE_TOPIC, claim).catch(() => {});
      expect(await ask(late, other)).toEqual(referral);
      clock.advance(SEED_REFERRAL_MS);
      expect(await ask(late, other)).toBe('ok');
    } finally {
      await late.stop();
    }
  } finally {
    await honest.stop();
    await squatter.stop();
  }
});
