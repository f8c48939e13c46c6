// A tab's announcements, alone: a fake gossip (an event target that records what is published) and
// a manual clock. What other tabs announce counts while fresh; ours go out soon after a change, at
// most one per ANNOUNCE_MIN_GAP_MS, and every ANNOUNCE_INTERVAL_MS; nothing after stop().
import '../../src/seed/promise-shim';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { Multiaddr } from '@multiformats/multiaddr';
import { expect, test } from '@playwright/test';
import { ANNOUNCE_TOPIC, decodeAnnouncement, encodeAnnouncement, hasBit } from '../../src/swarm/announce';
import { type AnnouncementsComponents, startAnnouncements } from '../../src/swarm/announcements';
import { ANNOUNCE_INTERVAL_MS, ANNOUNCE_MIN_GAP_MS, ANNOUNCE_STALE_MS } from '../../src/swarm/limits';
import { type ManualClock, manualClock } from '../harness/manual-clock';

const M = 'ab'.repeat(32);
const OTHER = 'cd'.repeat(32);

let self: PeerId;
let seed: PeerId;
let tab: PeerId;

test.beforeAll(async () => {
  const peer = async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  [self, seed, tab] = await Promise.all([peer(), peer(), peer()]);
});

/** Gossip as the announcements use it: published messages are recorded, received ones dispatched. */
class FakeGossip extends EventTarget {
  readonly sent: { topic: string; data: Uint8Array }[] = [];
  async publish(topic: string, data: Uint8Array) {
    this.sent.push({ topic, data });
    return { recipients: [] };
  }
  receive(from: PeerId, data: Uint8Array, topic = ANNOUNCE_TOPIC): void {
    this.dispatchEvent(new CustomEvent('message', { detail: { type: 'signed', from, topic, data } }));
  }
}

interface Setup {
  gossip: FakeGossip;
  clock: ManualClock;
  learned: [string, string[]][];
  announcements: ReturnType<typeof startAnnouncements>;
}

const OUR_ADDRS = ['/ip4/127.0.0.1/tcp/9/ws/p2p-circuit/webrtc'];

function setup(): Setup {
  const gossip = new FakeGossip();
  const clock = manualClock();
  const learned: Setup['learned'] = [];
  const announcements = startAnnouncements({
    pubsub: gossip as unknown as AnnouncementsComponents['pubsub'],
    self: self.toString(),
    seed: seed.toString(),
    addrs: () => OUR_ADDRS,
    onPeerAddrs: (peer: string, addrs: Multiaddr[]) => void learned.push([peer, addrs.map(String)]),
    clock,
  });
  return { gossip, clock, learned, announcements };
}

const announcement = (manifest: string, have: number[], addrs: string[] = []) =>
  encodeAnnouncement({ manifest, have: Uint8Array.from(have), fetching: Uint8Array.of(0), addrs });

test("other tabs' announcements count while fresh; ours, the seed's and other topics do not; their WebRTC addresses are learned", async () => {
  const { gossip, clock, learned, announcements } = setup();
  announcements.announce(M, { have: Uint8Array.of(0), fetching: Uint8Array.of(0) });
  const webrtc = `/ip4/127.0.0.1/tcp/1/ws/p2p/${seed}/p2p-circuit/webrtc/p2p/${tab}`;
  const someoneElses = `/ip4/127.0.0.1/tcp/1/ws/p2p/${seed}/p2p-circuit/webrtc/p2p/${self}`;
  gossip.receive(tab, announcement(M, [0b101], [webrtc, someoneElses, '/ip4/127.0.0.1/tcp/2/ws', 'not a multiaddr']));
  gossip.receive(self, announcement(M, [0b111]));
  gossip.receive(seed, announcement(M, [0b111]));
  gossip.receive(tab, announcement(OTHER, [0b1]), 'vgpu/elsewhere/1');
  const holders = announcements.holders(M);
  expect([...holders.keys()]).toEqual([tab.toString()]);
  const a = holders.get(tab.toString())!;
  expect([0, 1, 2].map((i) => hasBit(a.have, i))).toEqual([true, false, true]);
  expect(announcements.holders(OTHER).size).toBe(0);
  // Only an address that is WebRTC and names the announcer is kept.
  expect(learned).toEqual([[tab.toString(), [webrtc]]]);
  // Stale after ANNOUNCE_STALE_MS without a new announcement.
  clock.advance(ANNOUNCE_STALE_MS - 1);
  expect(announcements.holders(M).size).toBe(1);
  clock.advance(1);
  expect(announcements.holders(M).size).toBe(0);
  gossip.receive(tab, announcement(M, [0b1]));
  expect(announcements.holders(M).size).toBe(1);
  announcements.stop();
});

test("the seed's referral counts as the referred tab's announcement of that piece, until it announces itself or goes stale", async () => {
  const { gossip, clock, announcements } = setup();
  announcements.referred(M, tab.toString(), 0); // not ours yet: ignored
  expect(announcements.holders(M).size).toBe(0);
  announcements.announce(M, { have: Uint8Array.of(0), fetching: Uint8Array.of(0) });
  announcements.referred(M, tab.toString(), 1);
  announcements.referred(M, tab.toString(), 3);
  announcements.referred(M, self.toString(), 1); // never ourselves, never the seed
  announcements.referred(M, seed.toString(), 1);
  const a = announcements.holders(M);
  expect([...a.keys()]).toEqual([tab.toString()]);
  const t = a.get(tab.toString())!;
  expect([0, 1, 2, 3].map((i) => hasBit(t.have, i))).toEqual([false, true, false, true]);
  expect(t.fetching.every((b) => b === 0)).toBe(true);
  // Its own announcement replaces what the seed said of it.
  gossip.receive(tab, announcement(M, [0b100]));
  expect([0, 1, 2].map((i) => hasBit(announcements.holders(M).get(tab.toString())!.have, i))).toEqual([
    false,
    false,
    true,
  ]);
  clock.advance(ANNOUNCE_STALE_MS);
  expect(announcements.holders(M).size).toBe(0);
  announcements.stop();
});

test('only weights we fetch or serve, with bitfields of their size, are heard; forget() stops announcing and hearing them', async () => {
  const { gossip, clock, announcements } = setup();
  gossip.receive(tab, announcement(M, [0b1]));
  expect(announcements.holders(M).size).toBe(0); // not ours (yet)
  announcements.announce(M, { have: Uint8Array.of(0), fetching: Uint8Array.of(0) });
  const outsized = encodeAnnouncement({
    manifest: M,
    have: new Uint8Array(512),
    fetching: Uint8Array.of(0),
    addrs: [],
  });
  gossip.receive(tab, outsized);
  expect(announcements.holders(M).size).toBe(0);
  gossip.receive(tab, announcement(M, [0b1]));
  expect(announcements.holders(M).size).toBe(1);
  announcements.forget(M);
  expect(announcements.holders(M).size).toBe(0);
  gossip.receive(tab, announcement(M, [0b1]));
  expect(announcements.holders(M).size).toBe(0);
  clock.advance(ANNOUNCE_INTERVAL_MS);
  expect(gossip.sent).toHaveLength(0);
  announcements.stop();
});

test('ours: soon after a change, at most one per ANNOUNCE_MIN_GAP_MS, and every ANNOUNCE_INTERVAL_MS; nothing after stop', async () => {
  const { gossip, clock, announcements } = setup();
  const own = { have: Uint8Array.of(0), fetching: Uint8Array.of(0) };
  announcements.announce(M, own);
  announcements.changed();
  clock.advance(0);
  expect(gossip.sent).toHaveLength(1);
  const first = gossip.sent[0]!;
  expect(first.topic).toBe(ANNOUNCE_TOPIC);
  expect(decodeAnnouncement(first.data)).toEqual({
    manifest: M,
    have: own.have,
    fetching: own.fetching,
    addrs: OUR_ADDRS,
  });
  // Three changes in a row: one announcement, ANNOUNCE_MIN_GAP_MS after the last, with the newest state.
  own.have[0] = 0b1;
  announcements.changed();
  announcements.changed();
  own.have[0] = 0b11;
  announcements.changed();
  clock.advance(ANNOUNCE_MIN_GAP_MS - 1);
  expect(gossip.sent).toHaveLength(1);
  clock.advance(1);
  expect(gossip.sent).toHaveLength(2);
  expect(decodeAnnouncement(gossip.sent[1]!.data).have).toEqual(Uint8Array.of(0b11));
  // With no change, the periodic announcement.
  clock.advance(ANNOUNCE_INTERVAL_MS - ANNOUNCE_MIN_GAP_MS - 1);
  expect(gossip.sent).toHaveLength(2);
  clock.advance(1);
  expect(gossip.sent).toHaveLength(3);
  clock.advance(ANNOUNCE_INTERVAL_MS);
  expect(gossip.sent).toHaveLength(4);
  // Stopped: no timer left, nothing more sent, nothing more heard.
  announcements.stop();
  expect(clock.pending()).toBe(0);
  clock.advance(10 * ANNOUNCE_INTERVAL_MS);
  expect(gossip.sent).toHaveLength(4);
  gossip.receive(tab, announcement(M, [0b1]));
  expect(announcements.holders(M).size).toBe(0);
});
