// A tab's link to the seed: what the seed publishes at /swarm.json, the WebSocket connection to it
// (dialled again when it dropped: the seed restarted), streams on it, and the gossip topics only
// the seed may publish on.
import { publicKeyFromProtobuf } from '@libp2p/crypto/keys';
import { type GossipSub, type Message, TopicValidatorResult } from '@libp2p/gossipsub';
import type { Connection, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { fromBase64 } from './bytes';
import type { SwarmNode } from './nodes';
import type { SignedDocument } from './signed';

/** What the seed publishes at /swarm.json: who it is, where to dial it, what it serves. */
export interface SeedInfo {
  peerId: string;
  /** base64 libp2p protobuf public key; must match peerId. */
  publicKey: string;
  /** WebSocket multiaddrs, each ending in /p2p/<peerId>. */
  addrs: string[];
  /** Signed weight manifests, newest first. */
  manifests: SignedDocument[];
  /**
   * A helper seed's: the run's root, whose key signs the rounds, weights and receipts this seed
   * passes on. Absent: this seed signs them itself.
   */
  run?: string;
  /** A helper seed's: its root's page, where its volunteers go when it is gone. */
  upstream?: string;
  /** A root's: its connected helper seeds, for volunteers to spread over (each one's page URL). */
  helpers?: { peerId: string; url: string }[];
}

/** Most helpers a /swarm.json may list (the rest are ignored). */
export const MAX_LISTED_HELPERS = 64;

/** The peer whose key signs the run's documents, as the seed at `info` passes them on. */
export const runSigner = (info: SeedInfo): string => info.run ?? info.peerId;

/** Checks /swarm.json's shape and that its public key is the one its peer id names. */
export function parseSeedInfo(value: unknown): SeedInfo {
  const v = (value ?? {}) as Record<string, unknown>;
  if (typeof v.peerId !== 'string' || typeof v.publicKey !== 'string')
    throw new Error('swarm.json: peerId and publicKey must be strings');
  if (!Array.isArray(v.addrs) || !v.addrs.every((a) => typeof a === 'string'))
    throw new Error('swarm.json: addrs must be a list of multiaddrs');
  if (!Array.isArray(v.manifests)) throw new Error('swarm.json: manifests must be a list');
  const id = peerIdFromString(v.peerId);
  if (!id.publicKey?.equals(publicKeyFromProtobuf(fromBase64(v.publicKey))))
    throw new Error('swarm.json: publicKey does not match peerId');
  if (v.run !== undefined) peerIdFromString(String(v.run)); // throws unless it is a peer id
  const helpers = Array.isArray(v.helpers)
    ? (v.helpers as Record<string, unknown>[])
        .filter((h) => typeof h?.peerId === 'string' && typeof h.url === 'string' && /^https?:\/\//.test(h.url))
        .slice(0, MAX_LISTED_HELPERS)
        .map((h) => ({ peerId: h.peerId as string, url: h.url as string }))
    : undefined;
  return {
    peerId: v.peerId,
    publicKey: v.publicKey,
    addrs: v.addrs as string[],
    manifests: v.manifests as SignedDocument[],
    ...(v.run === undefined ? {} : { run: String(v.run) }),
    ...(typeof v.upstream === 'string' && /^https?:\/\//.test(v.upstream) ? { upstream: v.upstream } : {}),
    ...(helpers ? { helpers } : {}),
  };
}

export interface SeedLinkComponents {
  node: Pick<SwarmNode, 'dial'>;
  pubsub: Pick<GossipSub, 'topicValidators' | 'subscribe' | 'addEventListener' | 'removeEventListener'>;
  seed: SeedInfo;
}

export interface SeedLink {
  /** The connection to the seed: the open one, or a new dial. */
  connection(signal?: AbortSignal): Promise<Connection>;
  /** A stream to the seed on `protocol`. */
  stream(protocol: string, signal?: AbortSignal): Promise<Stream>;
  /** Calls `handler` with each message the seed publishes on `topic` (others' are dropped unforwarded). */
  subscribe(topic: string, handler: (data: Uint8Array) => void): void;
  stop(): void;
}

export function createSeedLink(c: SeedLinkComponents): SeedLink {
  const seed = c.seed.peerId;
  const addrs = c.seed.addrs.map((a) => multiaddr(a));
  const fromSeed = (msg: Message) => msg.type === 'signed' && msg.from.toString() === seed;
  const handlers = new Map<string, (data: Uint8Array) => void>();
  const onMessage = (evt: CustomEvent<Message>) => {
    const handler = handlers.get(evt.detail.topic);
    if (handler && fromSeed(evt.detail)) handler(evt.detail.data);
  };
  c.pubsub.addEventListener('message', onMessage);

  const connection = (signal?: AbortSignal) => c.node.dial(addrs, { signal });
  return {
    connection,
    stream: async (protocol, signal) => (await connection(signal)).newStream(protocol, { signal }),
    subscribe(topic, handler) {
      c.pubsub.topicValidators.set(topic, (_peer, msg) =>
        fromSeed(msg) ? TopicValidatorResult.Accept : TopicValidatorResult.Reject,
      );
      handlers.set(topic, handler);
      c.pubsub.subscribe(topic);
    },
    stop: () => c.pubsub.removeEventListener('message', onMessage),
  };
}
