// A tab's place in the swarm: connects to the seed, hears and sends announcements, serves the
// pieces it holds, and downloads manifests from the seed and other tabs. Runs on the page's main
// thread (WebRTC is not available in workers); also runs in Node for tests and Node volunteers.

import { publicKeyFromProtobuf } from '@libp2p/crypto/keys';
import { TopicValidatorResult } from '@libp2p/gossipsub';
import type { Connection, PrivateKey, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Multiaddr } from '@multiformats/multiaddr';
import { multiaddr } from '@multiformats/multiaddr';
import { ANNOUNCE_TOPIC, decodeAnnouncement, emptyBitfield, encodeAnnouncement } from './announce';
import { fromBase64 } from './bytes';
import { type Availability, assembleWeights, type FetchProgress, fetchPieces } from './fetcher';
import {
  ANNOUNCE_INTERVAL_MS,
  ANNOUNCE_MIN_GAP_MS,
  ANNOUNCE_STALE_MS,
  DIAL_TIMEOUT_MS,
  MAX_ANNOUNCE_ADDRS,
  MAX_DIRECT_PEERS,
  MAX_PEER_DIALS,
  MAX_PIECE_STREAMS_PER_CONNECTION,
} from './limits';
import { type VerifiedManifest, verifyManifest } from './manifest';
import { createTabNode, type SwarmNode } from './nodes';
import { PIECE_PROTOCOL, type PieceStore, pieceServer, requestPiece, type UploadStats } from './pieces';
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
}

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
  return {
    peerId: v.peerId,
    publicKey: v.publicKey,
    addrs: v.addrs as string[],
    manifests: v.manifests as SignedDocument[],
  };
}

export interface PeerView {
  id: string;
  /** seed: our WebSocket link to the seed; direct: WebRTC to another tab; relayed: through the seed's relay. */
  kind: 'seed' | 'direct' | 'relayed';
}

export interface Download {
  manifest: VerifiedManifest;
  weights: Float32Array;
  progress: FetchProgress;
}

export interface SwarmClient {
  node: SwarmNode;
  peerId: string;
  seed: SeedInfo;
  peers(): PeerView[];
  /** Verifies the manifest against the seed's key, then fetches, verifies and stores every piece. */
  download(doc: SignedDocument, onProgress?: (p: FetchProgress) => void, signal?: AbortSignal): Promise<Download>;
  uploads: UploadStats;
  /** A stream to the seed on `protocol`, dialling it again if the link dropped (the seed restarted). */
  seedStream(protocol: string, signal?: AbortSignal): Promise<Stream>;
  /** Calls `handler` with each message the seed publishes on `topic` (others' are dropped unforwarded). */
  subscribeToSeed(topic: string, handler: (data: Uint8Array) => void): void;
  /** Called for each peer penalty and each rejected request: the page and logs show them. */
  onWarning?: (text: string) => void;
  stop(): Promise<void>;
}

export interface SwarmClientOptions {
  seed: SeedInfo;
  privateKey: PrivateKey;
  store: PieceStore;
  localNetwork: boolean;
  iceServers?: RTCIceServer[];
}

export async function startSwarmClient(opts: SwarmClientOptions): Promise<SwarmClient> {
  const node = await createTabNode({
    privateKey: opts.privateKey,
    localNetwork: opts.localNetwork,
    iceServers: opts.iceServers,
  });
  const self = node.peerId.toString();
  const manifests = new Map<string, VerifiedManifest>();
  /** manifest id -> peer id -> what that peer last announced, and when. */
  const holders = new Map<string, Map<string, Availability & { seenAt: number }>>();
  /** manifest id -> what we hold and fetch. */
  const mine = new Map<string, Availability>();
  /** peer id -> its relayed WebRTC addresses, from its announcements. */
  const webrtcAddrs = new Map<string, Multiaddr[]>();
  /** Direct dials in progress, so concurrent requests share one. */
  const dialing = new Map<string, Promise<Connection>>();
  const uploads: UploadStats = { uploadedBytes: 0, piecesServed: 0, refused: 0 };
  let dials = 0;
  const client: SwarmClient = {
    node,
    peerId: self,
    seed: opts.seed,
    uploads,
    peers: () =>
      node.getConnections().map((c) => ({
        id: c.remotePeer.toString(),
        kind: c.remotePeer.toString() === opts.seed.peerId ? 'seed' : c.limits ? 'relayed' : 'direct',
      })),
    download,
    stop,
    seedStream,
    subscribeToSeed,
  };
  const warn = (text: string) => client.onWarning?.(text);

  await node.handle(
    PIECE_PROTOCOL,
    pieceServer({
      manifest: (id) => manifests.get(id)?.value,
      store: opts.store,
      stats: uploads,
      onRefused: (peer, _status, reason) => warn(`refused a piece request from ${peer.slice(-8)}: ${reason}`),
    }),
    { maxInboundStreams: MAX_PIECE_STREAMS_PER_CONNECTION, maxOutboundStreams: MAX_PIECE_STREAMS_PER_CONNECTION },
  );

  node.services.pubsub.addEventListener('message', (evt) => {
    const msg = evt.detail;
    if (msg.topic !== ANNOUNCE_TOPIC || msg.type !== 'signed') return;
    const from = msg.from.toString();
    if (from === self || from === opts.seed.peerId) return;
    const a = decodeAnnouncement(msg.data); // already validated by the topic validator
    if (!holders.has(a.manifest)) holders.set(a.manifest, new Map());
    holders.get(a.manifest)!.set(from, { have: a.have, fetching: a.fetching, seenAt: Date.now() });
    const addrs = a.addrs.flatMap((s) => {
      try {
        return s.includes('/webrtc') && s.endsWith(`/p2p/${from}`) ? [multiaddr(s)] : [];
      } catch {
        return [];
      }
    });
    if (addrs.length === 0) return;
    webrtcAddrs.set(from, addrs);
    if (self < from && !directTo(from) && !dialing.has(from))
      connectTo(from).catch((e: Error) => warn(`could not connect to ${from.slice(-8)}: ${e.message}`));
  });

  // Announcements: right after a new piece (at most one per ANNOUNCE_MIN_GAP_MS) and periodically.
  let lastAnnounce = 0;
  let announceTimer: ReturnType<typeof setTimeout> | undefined;
  const announceNow = async () => {
    announceTimer = undefined;
    lastAnnounce = Date.now();
    const addrs = node
      .getMultiaddrs()
      .map(String)
      .filter((a) => a.includes('/webrtc'))
      .slice(0, MAX_ANNOUNCE_ADDRS);
    for (const [manifest, own] of mine) {
      await node.services.pubsub
        .publish(ANNOUNCE_TOPIC, encodeAnnouncement({ manifest, ...own, addrs }))
        .catch(() => {});
    }
  };
  const announceSoon = () => {
    if (announceTimer === undefined)
      announceTimer = setTimeout(
        () => void announceNow(),
        Math.max(0, lastAnnounce + ANNOUNCE_MIN_GAP_MS - Date.now()),
      );
  };
  const periodic = setInterval(announceSoon, ANNOUNCE_INTERVAL_MS);

  await node.dial(opts.seed.addrs.map((a) => multiaddr(a)));

  const directTo = (peer: string) =>
    node.getConnections(peerIdFromString(peer)).find((c) => c.status === 'open' && !c.limits);

  /**
   * Dials `peer` over WebRTC, signalled through the seed's relay, at the address it announced.
   * Only the tab with the smaller peer id dials (two tabs dialling each other at once tend to
   * time out both attempts); it does so as soon as it hears the other's announcement.
   */
  function connectTo(peer: string): Promise<Connection> {
    let dial = dialing.get(peer);
    if (!dial) {
      const addrs = webrtcAddrs.get(peer);
      if (!addrs) return Promise.reject(new Error('no WebRTC address announced'));
      if (++dials > MAX_PEER_DIALS) return Promise.reject(new Error(`dial budget of ${MAX_PEER_DIALS} spent`));
      const direct = new Set(
        node
          .getConnections()
          .filter((c) => !c.limits)
          .map((c) => c.remotePeer.toString()),
      );
      if (direct.size > MAX_DIRECT_PEERS)
        return Promise.reject(new Error(`already connected to ${MAX_DIRECT_PEERS} tabs`));
      dial = node.dial(addrs, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) }).finally(() => dialing.delete(peer));
      dialing.set(peer, dial);
    }
    return dial;
  }

  /** Connected, or we can dial it, or it dials us (it has the larger id and hears our announcements). */
  const reachable = (peer: string) => directTo(peer) !== undefined || self > peer || webrtcAddrs.has(peer);

  /** An unlimited connection to `peer` (a relayed one is limited: no pieces on it). */
  async function directConnection(peer: string, signal: AbortSignal): Promise<Connection> {
    for (;;) {
      const open = directTo(peer);
      if (open) return open;
      if (self < peer) return connectTo(peer);
      // The other side dials us; wait for its connection.
      signal.throwIfAborted();
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function request(peer: string, index: number, manifest: string, signal: AbortSignal): Promise<Uint8Array> {
    const connection =
      peer === opts.seed.peerId
        ? await node.dial(peerIdFromString(peer), { signal })
        : await directConnection(peer, signal);
    const stream = await connection.newStream(PIECE_PROTOCOL, { signal });
    return requestPiece(stream, { manifest, index }, { signal });
  }

  async function download(
    doc: SignedDocument,
    onProgress?: (p: FetchProgress) => void,
    signal?: AbortSignal,
  ): Promise<Download> {
    const manifest = await verifyManifest(doc, opts.seed.peerId);
    manifests.set(manifest.id, manifest);
    const own = {
      have: emptyBitfield(manifest.value.pieces.length),
      fetching: emptyBitfield(manifest.value.pieces.length),
    };
    mine.set(manifest.id, own);
    const progress = await fetchPieces({
      manifest,
      store: opts.store,
      seed: opts.seed.peerId,
      signal,
      own,
      holders: () =>
        new Map(
          [...(holders.get(manifest.id) ?? [])].filter(
            ([peer, a]) => a.seenAt > Date.now() - ANNOUNCE_STALE_MS && reachable(peer),
          ),
        ),
      onOwnChange: announceSoon,
      request: (peer, index, s) => request(peer, index, manifest.id, s),
      onProgress,
      onPenalty: (peer, reason) => warn(`peer ${peer.slice(-8)} ${reason}`),
    });
    return { manifest, weights: await assembleWeights(manifest, opts.store), progress };
  }

  async function seedStream(protocol: string, signal?: AbortSignal): Promise<Stream> {
    const connection = await node.dial(
      opts.seed.addrs.map((a) => multiaddr(a)),
      { signal },
    );
    return connection.newStream(protocol, { signal });
  }

  const seedTopics = new Map<string, (data: Uint8Array) => void>();
  function subscribeToSeed(topic: string, handler: (data: Uint8Array) => void): void {
    node.services.pubsub.topicValidators.set(topic, (_peer, msg) =>
      msg.type === 'signed' && msg.from.toString() === opts.seed.peerId
        ? TopicValidatorResult.Accept
        : TopicValidatorResult.Reject,
    );
    seedTopics.set(topic, handler);
    node.services.pubsub.subscribe(topic);
  }
  node.services.pubsub.addEventListener('message', (evt) => {
    const handler = seedTopics.get(evt.detail.topic);
    if (handler && evt.detail.type === 'signed' && evt.detail.from.toString() === opts.seed.peerId)
      handler(evt.detail.data);
  });

  async function stop(): Promise<void> {
    clearInterval(periodic);
    clearTimeout(announceTimer);
    await node.stop();
  }

  return client;
}
