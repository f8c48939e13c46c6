// A tab's peer connection budget, alone, on a manual clock: it refuses past its cap within the window
// and admits again as the window slides; times from before a reload still count; an open connection
// is reused without spending any; idle closing picks only connections idle for the whole time; and
// the fetcher takes a refusal for a busy peer (the piece comes from the seed, no penalty).
import '../../src/seed/promise-shim';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import { expect, test } from '@playwright/test';
import { emptyBitfield, setBit } from '../../src/swarm/announce';
import { sha256Hex } from '../../src/swarm/bytes';
import {
  admitPeerConnection,
  idleConnections,
  PEER_CONNECTION_BUDGET,
  PeerConnectionBudgetError,
  peerConnectionLedger,
} from '../../src/swarm/connection-budget';
import { createDirectLinks, type DirectLinksComponents } from '../../src/swarm/direct';
import { fetchPieces } from '../../src/swarm/fetcher';
import { MAX_PEER_CONNECTIONS_PER_HOUR, PEER_IDLE_CLOSE_MS } from '../../src/swarm/limits';
import type { VerifiedManifest, WeightsManifest } from '../../src/swarm/manifest';
import { memoryPieceStore } from '../../src/swarm/pieces';
import { manualClock } from '../harness/manual-clock';

const HOUR = 60 * 60_000;
const MINUTE = 60_000;

test('the budget refuses past its cap within the hour, and admits again as the window slides', () => {
  const clock = manualClock();
  const start = clock.now();
  const ledger = peerConnectionLedger({ clock });
  expect(PEER_CONNECTION_BUDGET).toEqual({ cap: MAX_PEER_CONNECTIONS_PER_HOUR, windowMs: HOUR });
  // One connection a minute: the cap's worth fits in the first hour's minutes.
  for (let k = 0; k < MAX_PEER_CONNECTIONS_PER_HOUR; k++) {
    expect(ledger.take()).toBeUndefined();
    clock.advance(MINUTE);
  }
  expect(ledger.available()).toBe(false);
  const refused = ledger.take();
  expect(refused).toBeInstanceOf(PeerConnectionBudgetError);
  // The oldest (at `start`) leaves the window an hour after it was created.
  expect(refused!.retryAt).toBe(start + HOUR);
  clock.advance(start + HOUR - 1 - clock.now());
  expect(ledger.take()).toBeInstanceOf(PeerConnectionBudgetError);
  clock.advance(1);
  expect(ledger.take()).toBeUndefined();
  expect(ledger.take()).toBeInstanceOf(PeerConnectionBudgetError); // one left the window, one came in
  clock.advance(MINUTE); // the second oldest leaves
  expect(ledger.take()).toBeUndefined();
  expect(ledger.createdSinceStart()).toBe(MAX_PEER_CONNECTIONS_PER_HOUR + 2);
});

test('the pure rule: what it keeps is the window with the new time; its refusal says when the next fits', () => {
  const budget = { cap: 3, windowMs: 1_000 };
  expect(admitPeerConnection([100, 900, 50], 1_060, budget)).toEqual({ created: [100, 900, 1_060] });
  const refused = admitPeerConnection([100, 900, 950], 1_060, budget);
  expect('refused' in refused && refused.refused.retryAt).toBe(1_100);
  // A time in the future (a clock set back) is not in the window: it does not block for longer.
  expect(admitPeerConnection([5_000, 5_000, 5_000], 1_000, budget)).toEqual({ created: [1_000] });
});

test('times kept from before a reload count until they leave the window; each admission is handed on to be kept', () => {
  const clock = manualClock();
  const before = Array.from({ length: MAX_PEER_CONNECTIONS_PER_HOUR }, (_, k) => clock.now() - 59 * MINUTE + k);
  const kept: number[][] = [];
  const ledger = peerConnectionLedger({ clock, created: before, onTake: (created) => kept.push([...created]) });
  expect(ledger.take()).toBeInstanceOf(PeerConnectionBudgetError);
  clock.advance(MINUTE);
  expect(ledger.take()).toBeUndefined();
  expect(kept).toEqual([[...before.slice(1), clock.now()]]);
  expect(ledger.createdSinceStart()).toBe(1);
});

test('an open connection is reused: no dial, and the budget is not spent', async () => {
  const [self, peer] = (
    await Promise.all([0, 1].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
  ).sort() as [string, string];
  const clock = manualClock();
  const ledger = peerConnectionLedger({ clock, budget: { cap: 1, windowMs: HOUR } });
  const dials: Multiaddr[][] = [];
  const open = { remotePeer: peerIdFromString(peer), status: 'open' };
  const connections: (typeof open)[] = [];
  const node = {
    dial: async (addrs: Multiaddr[]) => {
      dials.push(addrs);
      connections.push(open);
      return open;
    },
    getConnections: () => connections,
  } as unknown as DirectLinksComponents['node'];
  const links = createDirectLinks({ node, self, warn: () => {}, clock, ledger });
  const addrs = [multiaddr(`/ip4/127.0.0.1/tcp/1/ws/p2p-circuit/webrtc/p2p/${peer}`)];
  links.learn(peer, addrs);
  const signal = new AbortController().signal;
  expect(await links.connection(peer, signal)).toBe(open);
  expect(ledger.createdSinceStart()).toBe(1);
  // Its whole budget is spent, yet the open connection serves every request and announcement.
  for (let k = 0; k < 5; k++) {
    links.learn(peer, addrs);
    expect(await links.connection(peer, signal)).toBe(open);
  }
  expect(links.reachable(peer)).toBe(true);
  expect(dials).toHaveLength(1);
  expect(ledger.createdSinceStart()).toBe(1);
});

test('idle closing picks the connections idle at every look for PEER_IDLE_CLOSE_MS, and only those', () => {
  const idleSince = new Map<string, number>();
  const at = (ms: number, conns: { id: string; busy: boolean }[]) =>
    idleConnections(conns, idleSince, ms, PEER_IDLE_CLOSE_MS);
  // a: idle throughout; b: busy at one look; c: busy throughout; d: appears later, idle.
  expect(
    at(0, [
      { id: 'a', busy: false },
      { id: 'b', busy: false },
      { id: 'c', busy: true },
    ]),
  ).toEqual([]);
  expect(
    at(MINUTE, [
      { id: 'a', busy: false },
      { id: 'b', busy: true },
      { id: 'c', busy: true },
    ]),
  ).toEqual([]);
  const late = [
    { id: 'a', busy: false },
    { id: 'b', busy: false },
    { id: 'c', busy: true },
    { id: 'd', busy: false },
  ];
  expect(at(2 * MINUTE, late)).toEqual([]);
  expect(at(PEER_IDLE_CLOSE_MS - 1, late)).toEqual([]);
  expect(at(PEER_IDLE_CLOSE_MS, late)).toEqual(['a']);
  expect(at(MINUTE + PEER_IDLE_CLOSE_MS, late)).toEqual(['a']); // b's idle time began at its next look
  expect(at(2 * MINUTE + PEER_IDLE_CLOSE_MS, late)).toEqual(['a', 'b', 'd']);
  // A connection gone is forgotten: one with its id later starts idle afresh.
  expect(at(3 * MINUTE + PEER_IDLE_CLOSE_MS, [{ id: 'c', busy: true }])).toEqual([]);
  expect([...idleSince.keys()]).toEqual([]);
  expect(at(4 * MINUTE + PEER_IDLE_CLOSE_MS, [{ id: 'a', busy: false }])).toEqual([]);
});

test('the fetcher takes a budget refusal for a busy peer: the piece comes from the seed, the peer is not penalised', async () => {
  const bytes = Uint8Array.from({ length: 100 }, (_, k) => k);
  const value = {
    totalBytes: bytes.length,
    pieceBytes: bytes.length,
    pieces: [await sha256Hex(bytes)],
    sha256: await sha256Hex(bytes),
  } as WeightsManifest;
  const manifest = {
    id: 'f'.repeat(64),
    value,
    signed: { body: '', signer: 'seed', signature: '' },
  } as VerifiedManifest;
  const have = emptyBitfield(1);
  setBit(have, 0);
  const clock = manualClock();
  const asked: string[] = [];
  const penalties: string[] = [];
  const progress = await clock.run(
    fetchPieces({
      manifest,
      store: memoryPieceStore(),
      seed: 'seed',
      holders: () => new Map([['peer', { have, fetching: emptyBitfield(1) }]]),
      own: { have: emptyBitfield(1), fetching: emptyBitfield(1) },
      clock,
      // The peer always holds it, but the budget never lets us connect; the seed has it too.
      request: async (peer) => {
        asked.push(peer);
        if (peer === 'peer') throw new PeerConnectionBudgetError(PEER_CONNECTION_BUDGET, clock.now() + HOUR);
        return bytes;
      },
      onPenalty: (peer, reason) => penalties.push(`${peer}: ${reason}`),
    }),
  );
  expect(progress.fromSeedBytes).toBe(bytes.length);
  expect(asked[0]).toBe('peer');
  expect(asked.at(-1)).toBe('seed');
  expect(penalties).toEqual([]);
});
