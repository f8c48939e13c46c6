// Direct links between tabs, alone, on a fake node (its dials recorded, its connections set by the
// test): the tab with the smaller peer id dials, once per peer at a time, within the peer connection budget;
// the other waits for the connection; relayed connections do not carry pieces.
import '../../src/seed/promise-shim';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import { expect, test } from '@playwright/test';
import { PEER_CONNECTION_BUDGET, PeerConnectionBudgetError } from '../../src/swarm/connection-budget';
import { createDirectLinks, type DirectLinksComponents } from '../../src/swarm/direct';
import { INBOUND_DIAL_WAIT_MS, MAX_PEER_CONNECTIONS_PER_HOUR } from '../../src/swarm/limits';
import { manualClock } from '../harness/manual-clock';

/** Peer ids in ascending order: ids[0] is the smallest. */
let ids: string[];

test.beforeAll(async () => {
  const keys = await Promise.all(
    Array.from({ length: MAX_PEER_CONNECTIONS_PER_HOUR + 2 }, async () =>
      peerIdFromPrivateKey(await generateKeyPair('Ed25519')),
    ),
  );
  ids = keys.map(String).sort();
});

const addrOf = (peer: string) => [multiaddr(`/ip4/127.0.0.1/tcp/1/ws/p2p-circuit/webrtc/p2p/${peer}`)];

interface FakeConnection {
  remotePeer: { toString(): string };
  status: 'open' | 'closed';
  limits?: object;
}

/** A node whose dials stay pending until the test settles them, and whose connections the test sets. */
function fakeNode() {
  const dials: { addrs: string[]; settle: (c: FakeConnection) => void; fail: (e: Error) => void }[] = [];
  const connections: FakeConnection[] = [];
  const node = {
    dial: (addrs: Multiaddr[]) =>
      new Promise<FakeConnection>((settle, fail) => void dials.push({ addrs: addrs.map(String), settle, fail })),
    getConnections: (peer?: { toString(): string }) =>
      connections.filter((c) => peer === undefined || c.remotePeer.toString() === peer.toString()),
  };
  const connect = (peer: string, limits?: object): FakeConnection => {
    const c: FakeConnection = { remotePeer: peerIdFromString(peer), status: 'open', limits };
    connections.push(c);
    return c;
  };
  return { node: node as unknown as DirectLinksComponents['node'], dials, connect };
}

test('the smaller id dials as soon as it learns the address, once at a time; the larger one waits to be dialled', async () => {
  const [small, middle, large] = ids as [string, string, string];
  const { node, dials, connect } = fakeNode();
  const warnings: string[] = [];
  const links = createDirectLinks({ node, self: middle, warn: (w) => warnings.push(w) });
  // Reachable before any announcement only when the other dials us (it has the smaller id).
  expect(links.reachable(small)).toBe(true);
  expect(links.reachable(large)).toBe(false);

  links.learn(large, addrOf(large));
  links.learn(large, addrOf(large)); // heard again while dialling: one dial
  links.learn(small, addrOf(small)); // the smaller one dials us
  expect(dials.map((d) => d.addrs)).toEqual([addrOf(large).map(String)]);
  expect(links.reachable(large)).toBe(true);
  // A piece request to `large` shares the dial in progress.
  const controller = new AbortController();
  const toLarge = links.connection(large, controller.signal);
  const conn = connect(large);
  dials[0]!.settle(conn);
  expect(await toLarge).toBe(conn);
  // Open: used as it is, no dial.
  expect(await links.connection(large, controller.signal)).toBe(conn);
  expect(dials).toHaveLength(1);

  // `small` dials us: we wait for its connection, and a relayed one does not do.
  const fromSmall = links.connection(small, controller.signal);
  connect(small, { bytes: 1024n });
  const direct = connect(small);
  expect(await fromSmall).toBe(direct);
  expect(dials).toHaveLength(1);
  expect(warnings).toEqual([]);
});

test('a failed dial is warned about, and a tab dials at most MAX_PEER_CONNECTIONS_PER_HOUR times an hour', async () => {
  const [self, ...others] = ids as [string, ...string[]];
  const { node, dials } = fakeNode();
  const warnings: string[] = [];
  const clock = manualClock();
  const links = createDirectLinks({ node, self, warn: (w) => warnings.push(w), clock });
  links.learn(others[0]!, addrOf(others[0]!));
  dials[0]!.fail(new Error('ICE failed'));
  await expect.poll(() => warnings).toEqual([`could not connect to ${others[0]!.slice(-8)}: ICE failed`]);
  // The failed dial counts: its RTCPeerConnection may have been created.
  for (const peer of others.slice(1)) links.learn(peer, addrOf(peer));
  expect(dials).toHaveLength(MAX_PEER_CONNECTIONS_PER_HOUR);
  const last = others.at(-1)!;
  expect(links.reachable(last)).toBe(false); // pieces it holds are fetched elsewhere
  await expect(links.connection(last, new AbortController().signal)).rejects.toBeInstanceOf(PeerConnectionBudgetError);
  expect(warnings).toHaveLength(1); // a refused dial on an announcement is not warned about again and again
  // An hour after the first dial, the budget admits one again.
  clock.advance(PEER_CONNECTION_BUDGET.windowMs);
  expect(links.reachable(last)).toBe(true);
  links.learn(last, addrOf(last));
  expect(dials).toHaveLength(MAX_PEER_CONNECTIONS_PER_HOUR + 1);
  expect(dials.at(-1)!.addrs).toEqual(addrOf(last).map(String));
});

test('the larger id dials too when the smaller one has not within INBOUND_DIAL_WAIT_MS', async () => {
  const [small, large] = ids as [string, string];
  const { node, dials, connect } = fakeNode();
  const clock = manualClock();
  const links = createDirectLinks({ node, self: large, warn: () => {}, clock });
  links.learn(small, addrOf(small)); // it should dial us; say it never does
  const request = links.connection(small, new AbortController().signal);
  await new Promise((r) => setTimeout(r, 250)); // a few polls: still waiting
  expect(dials).toHaveLength(0);
  clock.advance(INBOUND_DIAL_WAIT_MS);
  await expect.poll(() => dials.length).toBe(1);
  expect(dials[0]!.addrs).toEqual(addrOf(small).map(String));
  const conn = connect(small);
  dials[0]!.settle(conn);
  expect(await request).toBe(conn);
});

test('a request that no longer needs the connection stops waiting for the dial; the dial goes on and serves the next', async () => {
  const [small, large] = ids as [string, string];
  const { node, dials, connect } = fakeNode();
  const links = createDirectLinks({ node, self: small, warn: () => {} });
  links.learn(large, addrOf(large));
  const controller = new AbortController();
  const waiting = links.connection(large, controller.signal);
  const reason = new Error('the seed delivered the piece first');
  controller.abort(reason);
  await expect(waiting).rejects.toBe(reason);
  // The same dial, still in progress, serves the next request once it connects.
  const next = links.connection(large, new AbortController().signal);
  const conn = connect(large);
  dials[0]!.settle(conn);
  expect(await next).toBe(conn);
  expect(dials).toHaveLength(1);
});
