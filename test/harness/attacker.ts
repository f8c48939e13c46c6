// Attackers for the attack tests: ordinary Node libp2p peers (WebSockets, Noise, yamux, identify,
// gossipsub: what any stranger can run) that dial a real seed and then misbehave. Every loop an
// attack test runs with them is bounded, and they only ever dial loopback.
import '../../src/seed'; // first: defines Promise.withResolvers for libp2p on Node 20
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { RELAY_V2_HOP_CODEC } from '@libp2p/circuit-relay-v2';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { type GossipSub, gossipsub } from '@libp2p/gossipsub';
import { type Identify, identify } from '@libp2p/identify';
import type { Connection, PrivateKey, Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { webSockets } from '@libp2p/websockets';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import { WebSocket } from 'ws';
import { assignmentRequest, DEFAULT_FED_SETTINGS, type RoundManifest } from '../../src/fed';
import { type Seed, type SeedOptions, startSeed } from '../../src/seed';
import { loadOrCreateData } from '../../src/seed/data';
import { createCpuTrainer } from '../../src/volunteer';

/** The loopback address the next dial comes from (the whole of 127.0.0.0/8 is this machine). */
let sourceAddress: string | undefined;

// Node 20 has no WebSocket client of its own (22 has); libp2p's transport dials with the global
// one. This one can dial from another loopback address: a second "IP" for per-address budgets.
globalThis.WebSocket = class extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    super(url, protocols, sourceAddress ? { localAddress: sourceAddress } : {});
  }
} as unknown as typeof globalThis.WebSocket;

export type Attacker = Libp2p<{ identify: Identify; pubsub: GossipSub }>;

/** A fresh identity (a throwaway key, as a stranger would make one per attempt), or the one of `privateKey`. */
export async function createAttacker(privateKey?: PrivateKey): Promise<Attacker> {
  return createLibp2p({
    privateKey: privateKey ?? (await generateKeyPair('Ed25519')),
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // The seed is on loopback: a browser-like gater would refuse it.
    connectionGater: { denyDialMultiaddr: async () => false },
    services: {
      identify: identify(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }),
    },
  });
}

/**
 * libp2p refuses a host's connections past 5 a second (its inboundConnectionThreshold): a dial is
 * tried again after this pause, at most DIAL_ATTEMPTS times.
 */
const DIAL_RETRY_MS = 250;
const DIAL_ATTEMPTS = 20;

/** The attacker's connection to the seed, from `from` (a loopback address) when given. */
export async function dialSeed(attacker: Attacker, seed: Pick<Seed, 'info'>, from?: string): Promise<Connection> {
  for (let attempt = 1; ; attempt++) {
    sourceAddress = from;
    try {
      return await attacker.dial(seed.info().addrs.map((a) => multiaddr(a)));
    } catch (e) {
      if (attempt === DIAL_ATTEMPTS) throw e;
      await new Promise((r) => setTimeout(r, DIAL_RETRY_MS));
    } finally {
      sourceAddress = undefined;
    }
  }
}

/**
 * Asks the seed's circuit relay for a reservation, as a tab does to be reachable for WebRTC
 * signalling; returns the relay's status code (100 OK, 202 PERMISSION_DENIED when the seed's gater says no).
 * The package does not export its protobuf codec, so the message is
 * hand-encoded: HopMessage {type: RESERVE}.
 */
export async function reserveRelay(attacker: Attacker, seed: Pick<Seed, 'info'>): Promise<number> {
  const stream = await openStream(attacker, seed, RELAY_V2_HOP_CODEC);
  const lp = lpStream(stream);
  await lp.write(Uint8Array.of(0x08, 0x00));
  const reply = (await lp.read()).subarray();
  await stream.close().catch(() => {});
  // Find field 5 (status, a varint) among the reply's fields.
  let i = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = reply[i++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
  };
  while (i < reply.length) {
    const key = varint();
    if ((key & 7) === 0) {
      const value = varint();
      if (key >> 3 === 5) return value;
    } else {
      const length = varint(); // a length-delimited field (read first: `i += varint()` reads i before)
      i += length;
    }
  }
  throw new Error(`relay reply without a status: ${Buffer.from(reply).toString('hex')}`);
}

/**
 * Publishes `data` on `topic` to the seed, whether or not the seed subscribes to it: a stranger's
 * client sends what it likes. (The attacker's gossipsub is told that the seed subscribes; its
 * `topics` map is private in the typings only.)
 */
export async function publishToSeed(
  attacker: Attacker,
  seed: Pick<Seed, 'peerId'>,
  topic: string,
  data: Uint8Array,
): Promise<void> {
  const topics = (attacker.services.pubsub as unknown as { topics: Map<string, Set<string>> }).topics;
  topics.set(topic, new Set([...(topics.get(topic) ?? []), seed.peerId]));
  await attacker.services.pubsub.publish(topic, data);
}

/** A stream to the seed on `protocol`. */
export async function openStream(attacker: Attacker, seed: Pick<Seed, 'info'>, protocol: string): Promise<Stream> {
  return (await dialSeed(attacker, seed)).newStream(protocol);
}

/** `count` attackers, each connected to the seed (from `from`, a loopback address, when given); `stop` closes them all. */
export async function attackers(
  count: number,
  seed: Pick<Seed, 'info'>,
  from?: string,
): Promise<{ peers: Attacker[]; stop(): Promise<void> }> {
  const peers: Attacker[] = [];
  const stop = async () => {
    await Promise.all(peers.map((p) => p.stop()));
  };
  try {
    for (let i = 0; i < count; i++) {
      const peer = await createAttacker();
      peers.push(peer);
      await dialSeed(peer, seed, from);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { peers, stop };
}

/**
 * A real seed for attack tests, in a temporary run folder: `model`, a short validation context
 * (every seed evaluates its model on the CPU when it starts), the test's clock and log, and `fed`
 * settings over those (a round's hyper-parameters over the short context); the app it serves is
 * `appDir` (an empty folder without). `stop` stops it and removes the folder.
 */
export async function startTestSeed(
  opts: Pick<SeedOptions, 'model' | 'clock' | 'log' | 'fed' | 'helpers' | 'appDir' | 'grid'>,
): Promise<{ seed: Seed; runDir: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vgpu-attack-'));
  const runDir = join(dir, 'run');
  const seed = await startSeed({
    runDir,
    appDir: dir,
    ...opts,
    fed: { ...opts.fed, hyper: { ...DEFAULT_FED_SETTINGS.hyper, context: 16, ...opts.fed?.hyper } },
  }).catch(async (e: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw e;
  });
  return {
    seed,
    runDir,
    stop: async () => {
      await seed.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `peer`'s honest work for round `m` of a test seed: its assignment trained on the CPU reference (as a
 * Node volunteer does) from the seed's current weights on the run's data, encoded in the round's
 * codec. What passes the seed's verification, for attacks that need one good update (or a bad one
 * made from it).
 */
export async function honestUpdate(seed: Seed, runDir: string, m: RoundManifest, peer: string): Promise<Uint8Array> {
  const config = seed.manifest.value.model;
  const { dataset } = await loadOrCreateData(runDir, config.vocab);
  const trainer = createCpuTrainer();
  await trainer.init({ config, batchSize: m.hyper.batchSize, context: m.hyper.context });
  await trainer.loadData(dataset.train, dataset.validation);
  await trainer.loadParams(seed.weights);
  return (await trainer.train(assignmentRequest(m, m.assignments[peer]!))).update;
}
