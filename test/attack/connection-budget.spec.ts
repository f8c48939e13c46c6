// The peer connection budget of the real swarm client (here in Node, over node-datachannel's WebRTC,
// signalled through a real seed's relay), with a manual clock for the budget and idle closing:
// - the creation times kept in the tab's records count after a restart (Chrome's 500 connections a
//   tab are counted across reloads too): a client whose records hold a spent hour dials nobody,
//   one whose records are an hour old dials, and saves the new time;
// - a connection idle for PEER_IDLE_CLOSE_MS is closed, one that carries a piece stream is not.
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Connection, PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import type { Seed } from '../../src/seed';
import {
  MAX_PEER_CONNECTIONS_PER_HOUR,
  memoryPieceStore,
  PEER_CONNECTION_BUDGET,
  PEER_CONNECTIONS_KEY,
  PEER_DIAL_TIMEOUT_MS,
  PEER_IDLE_CHECK_MS,
  PEER_IDLE_CLOSE_MS,
  PeerConnectionBudgetError,
  type SwarmClient,
  type SwarmRecords,
  startSwarmClient,
} from '../../src/swarm';
import { startTestSeed } from '../harness/attacker';
import { type ManualClock, manualClock } from '../harness/manual-clock';

let seed: Seed;
let stopSeed: () => Promise<void>;
const clients: SwarmClient[] = [];

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  ({ seed, stop: stopSeed } = await startTestSeed({ model: 'tiny' }));
});

test.afterAll(async () => {
  for (const c of clients) await c.stop().catch(() => {});
  await stopSeed?.();
});

/** SwarmRecords in memory, as the tab's IndexedDB progress records keep them. */
function memoryRecords(initial: Record<string, unknown> = {}): SwarmRecords & { saved: Map<string, unknown> } {
  const saved = new Map(Object.entries(initial));
  return {
    saved,
    getProgress: async <T>(name: string) => saved.get(name) as T | undefined,
    setProgress: async (name, value) => void saved.set(name, structuredClone(value)),
  };
}

/**
 * `n` keys, by ascending peer id. The client with the smaller id dials; one with the larger waits for
 * the other's dial (INBOUND_DIAL_WAIT_MS, by its clock, which only the test moves): the dialler gets the first.
 */
async function keysByPeerId(n: number): Promise<PrivateKey[]> {
  const keys = await Promise.all(Array.from({ length: n }, () => generateKeyPair('Ed25519')));
  const id = (k: PrivateKey) => peerIdFromPrivateKey(k).toString();
  return keys.sort((a, b) => (id(a) < id(b) ? -1 : 1));
}

async function client(
  privateKey: PrivateKey,
  opts: { clock?: ManualClock; records?: SwarmRecords } = {},
): Promise<SwarmClient> {
  const c = await startSwarmClient({
    seed: seed.info(),
    privateKey,
    store: memoryPieceStore(),
    localNetwork: true,
    ...opts,
  });
  clients.push(c);
  return c;
}

/** Dials a test tries: a WebRTC dial now and then hangs until PEER_DIAL_TIMEOUT_MS (src/swarm/limits.ts says why). */
const DIAL_ATTEMPTS = 3;

/** A direct connection from `c` to `to`, tried up to DIAL_ATTEMPTS times. */
async function connect(c: SwarmClient, to: SwarmClient): Promise<Connection> {
  const addrs = await webrtcAddrs(to);
  for (let attempt = 1; ; attempt++) {
    try {
      return await c.connectTo(to.peerId, addrs);
    } catch (e) {
      if (attempt >= DIAL_ATTEMPTS || (e as Error).name !== 'TimeoutError') throw e;
    }
  }
}

/** A client's relayed WebRTC addresses, once its reservation at the seed's relay is up. */
async function webrtcAddrs(c: SwarmClient): Promise<string[]> {
  const addrs = () =>
    c.node
      .getMultiaddrs()
      .map(String)
      .filter((a) => a.includes('/webrtc'));
  await expect.poll(() => addrs().length, { timeout: 30_000 }).toBeGreaterThan(0);
  return addrs();
}

test('the times kept in the records count after a restart: a spent hour dials nobody; an hour later it dials, and saves the time', async () => {
  test.setTimeout(DIAL_ATTEMPTS * PEER_DIAL_TIMEOUT_MS + 60_000);
  const [dialler, other] = await keysByPeerId(2);
  const target = await client(other!);
  const addrs = await webrtcAddrs(target);
  const clock = manualClock();
  const spent = Array.from({ length: MAX_PEER_CONNECTIONS_PER_HOUR }, (_, i) => clock.now() - 60_000 * (i + 1));
  const records = memoryRecords({ [PEER_CONNECTIONS_KEY]: spent });
  const restarted = await client(dialler!, { clock, records });
  await expect(restarted.connectTo(target.peerId, addrs)).rejects.toBeInstanceOf(PeerConnectionBudgetError);
  expect(restarted.peerConnections().created).toBe(0);
  expect(restarted.node.getConnections().some((c) => c.remotePeer.toString() === target.peerId)).toBe(false);

  // An hour later they have left the window: it dials, and keeps the time.
  clock.advance(PEER_CONNECTION_BUDGET.windowMs);
  const conn = await connect(restarted, target);
  expect(conn.limits).toBeUndefined(); // direct WebRTC, not the relayed signalling connection
  const created = restarted.peerConnections().created;
  expect(created).toBeGreaterThanOrEqual(1);
  await expect.poll(() => records.saved.get(PEER_CONNECTIONS_KEY)).toEqual(Array(created).fill(clock.now()));
  // The connection is reused: asking again spends nothing.
  expect(await restarted.connectTo(target.peerId, addrs)).toBe(conn);
  expect(restarted.peerConnections().created).toBe(created);
});

test('a connection idle for PEER_IDLE_CLOSE_MS is closed; one carrying a piece stream stays open', async () => {
  test.setTimeout(2 * DIAL_ATTEMPTS * PEER_DIAL_TIMEOUT_MS + 60_000);
  const clock = manualClock();
  const [dialler, first, second] = await keysByPeerId(3);
  const a = await client(dialler!, { clock });
  const idle = await client(first!);
  const busy = await client(second!);
  const toIdle = await connect(a, idle);
  const toBusy = await connect(a, busy);
  // Quiet first: a new connection runs identify on streams of its own for a moment.
  const standing = new Set(a.node.services.pubsub.protocols);
  const quiet = (c: Connection) => c.streams.every((s) => s.protocol !== undefined && standing.has(s.protocol));
  await expect.poll(() => quiet(toIdle) && quiet(toBusy), { timeout: 30_000 }).toBe(true);
  // A stream that does work (any protocol but gossip's) keeps its connection in use.
  const stream = await toBusy.newStream('/vgpu/piece/1.0.0');
  for (let waited = 0; waited <= PEER_IDLE_CLOSE_MS; waited += PEER_IDLE_CHECK_MS) {
    expect(toIdle.status).toBe('open');
    clock.advance(PEER_IDLE_CHECK_MS);
  }
  await expect.poll(() => toIdle.status, { timeout: 10_000 }).not.toBe('open');
  expect(toBusy.status).toBe('open');
  stream.abort(new Error('the test is over'));
});
