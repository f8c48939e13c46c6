// A tab's place in the swarm: connects to the seed, hears and sends announcements, serves the
// pieces it holds, and downloads manifests from the seed and other tabs. Runs on the page's main
// thread (WebRTC is not available in workers); also runs in Node for tests and Node volunteers.
// Built from parts, each made from the components it needs; stopped in reverse order. Its WebRTC
// connections to other tabs are budgeted (connection-budget.ts): reused while open, at most
// MAX_PEER_CONNECTIONS_PER_HOUR new ones (dialled or accepted; the times persist across reloads), and
// closed after PEER_IDLE_CLOSE_MS without a stream.
import type { Connection, PrivateKey, Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { type Clock, systemClock } from '../util/clock';
import { startedParts } from '../util/parts';
import { startAnnouncements } from './announcements';
import {
  idleConnections,
  PEER_CONNECTION_BUDGET,
  type PeerConnectionBudget,
  peerConnectionLedger,
} from './connection-budget';
import { createDirectLinks } from './direct';
import { type Download, type Downloads, startDownloads } from './downloads';
import type { FetchProgress } from './fetcher';
import { MAX_ANNOUNCE_ADDRS, PEER_IDLE_CHECK_MS, PEER_IDLE_CLOSE_MS } from './limits';
import { createTabNode, type SwarmNode } from './nodes';
import type { PieceStore, UploadStats } from './pieces';
import { createSeedLink, runSigner, type SeedInfo } from './seed-link';
import type { SignedDocument } from './signed';

export interface PeerView {
  id: string;
  /** seed: our WebSocket link to the seed; direct: WebRTC to another tab; relayed: through the seed's relay. */
  kind: 'seed' | 'direct' | 'relayed';
}

export interface SwarmClient {
  node: SwarmNode;
  peerId: string;
  seed: SeedInfo;
  peers(): PeerView[];
  /** Verifies the manifest against the seed's key, then fetches, verifies and stores every piece. */
  download(doc: SignedDocument, onProgress?: (p: FetchProgress) => void, signal?: AbortSignal): Promise<Download>;
  /** The swarm's downloads of other piece manifests, and of weights rebuilt here (downloads.ts). */
  fetchBytes: Downloads['fetchBytes'];
  held: Downloads['held'];
  adopt: Downloads['adopt'];
  uploads: UploadStats;
  /** A stream to the seed on `protocol`, dialling it again if the link dropped (the seed restarted). */
  seedStream(protocol: string, signal?: AbortSignal): Promise<Stream>;
  /** Calls `handler` with each message the seed publishes on `topic` (others' are dropped unforwarded). */
  subscribeToSeed(topic: string, handler: (data: Uint8Array) => void): void;
  /**
   * A direct connection to another tab at its WebRTC addresses (as it announces them): the open one,
   * or a new one within the peer connection budget (else PeerConnectionBudgetError).
   */
  connectTo(peer: string, addrs: string[], signal?: AbortSignal): Promise<Connection>;
  /** The peer connection budget, and the WebRTC connections created since this client started. */
  peerConnections(): { created: number; budget: PeerConnectionBudget };
  /** Called for each peer penalty and each rejected request: the page and logs show them. */
  onWarning?: (text: string) => void;
  stop(): Promise<void>;
}

/** Small records kept across reloads, by name (src/storage's progress records). */
export interface SwarmRecords {
  getProgress<T>(name: string): Promise<T | undefined>;
  setProgress(name: string, value: unknown): Promise<void>;
}

/** The record of when this tab's recent peer connections were created (ms since the epoch). */
export const PEER_CONNECTIONS_KEY = 'peer-connections-created';

export interface SwarmClientOptions {
  seed: SeedInfo;
  privateKey: PrivateKey;
  store: PieceStore;
  localNetwork: boolean;
  iceServers?: RTCIceServer[];
  /** Where the peer connection budget's times are kept across reloads; none: in memory only. */
  records?: SwarmRecords;
  /** Benchmarks only (the churn benchmark reports it): a budget other than PEER_CONNECTION_BUDGET. */
  peerConnectionBudget?: PeerConnectionBudget;
  /** Time of the budget and of idle closing (tests pass a manual one). */
  clock?: Clock;
}

export async function startSwarmClient(opts: SwarmClientOptions): Promise<SwarmClient> {
  const clock = opts.clock ?? systemClock;
  const saved = await opts.records?.getProgress<unknown>(PEER_CONNECTIONS_KEY).catch(() => undefined);
  let saving = Promise.resolve();
  const ledger = peerConnectionLedger({
    clock,
    budget: opts.peerConnectionBudget ?? PEER_CONNECTION_BUDGET,
    created: Array.isArray(saved) ? saved.filter((t): t is number => typeof t === 'number') : [],
    onTake: (created) => {
      const records = opts.records;
      if (records) saving = saving.then(() => records.setProgress(PEER_CONNECTIONS_KEY, [...created])).catch(() => {});
    },
  });
  const node = await createTabNode({
    privateKey: opts.privateKey,
    localNetwork: opts.localNetwork,
    iceServers: opts.iceServers,
    admitInboundPeerConnection: () => ledger.take() === undefined,
  });
  const self = node.peerId.toString();
  const seed = opts.seed.peerId;
  let onWarning: ((text: string) => void) | undefined;
  const warn = (text: string) => onWarning?.(text);

  const parts = startedParts();
  parts.add(node);
  try {
    const link = parts.add(createSeedLink({ node, pubsub: node.services.pubsub, seed: opts.seed }));
    const direct = createDirectLinks({ node, self, warn, clock, ledger });
    parts.add(closeIdleConnections(node, seed, clock));
    parts.add(releaseClosedConnections(node, seed));
    const announcements = parts.add(
      startAnnouncements({
        pubsub: node.services.pubsub,
        self,
        seed,
        addrs: () =>
          node
            .getMultiaddrs()
            .map(String)
            .filter((a) => a.includes('/webrtc'))
            .slice(0, MAX_ANNOUNCE_ADDRS),
        onPeerAddrs: direct.learn,
      }),
    );
    const downloads = parts.add(
      await startDownloads({
        node,
        store: opts.store,
        seed,
        signer: runSigner(opts.seed),
        announcements,
        reachable: direct.reachable,
        learn: direct.learn,
        connection: (peer, signal) => (peer === seed ? link.connection(signal) : direct.connection(peer, signal)),
        warn,
      }),
    );
    await link.connection();
    return {
      node,
      peerId: self,
      seed: opts.seed,
      uploads: downloads.uploads,
      peers: () =>
        node.getConnections().map((conn) => {
          const id = conn.remotePeer.toString();
          return { id, kind: id === seed ? 'seed' : conn.limits ? 'relayed' : 'direct' };
        }),
      download: downloads.download,
      fetchBytes: downloads.fetchBytes,
      held: downloads.held,
      adopt: downloads.adopt,
      connectTo(peer, addrs, signal) {
        direct.learn(
          peer,
          addrs.map((a) => multiaddr(a)),
        );
        return direct.connection(peer, signal ?? new AbortController().signal);
      },
      peerConnections: () => ({ created: ledger.createdSinceStart(), budget: ledger.budget }),
      seedStream: link.stream,
      subscribeToSeed: link.subscribe,
      get onWarning() {
        return onWarning;
      },
      set onWarning(handler) {
        onWarning = handler;
      },
      stop: async () => {
        await parts.stop();
        await saving;
      },
    };
  } catch (e) {
    // A seed that cannot be dialled must not leave a node (and its timers) behind: the tab retries.
    await parts.stop().catch(() => {});
    throw e;
  }
}

/**
 * Every PEER_IDLE_CHECK_MS, closes the connections to other tabs (not the seed's) seen with no stream
 * but gossipsub's (which stays open for a connection's life) for PEER_IDLE_CLOSE_MS.
 */
function closeIdleConnections(
  node: Pick<SwarmNode, 'getConnections'> & { services: { pubsub: { protocols: string[] } } },
  seed: string,
  clock: Clock,
): { stop(): void } {
  const standing = new Set(node.services.pubsub.protocols);
  const idleSince = new Map<string, number>();
  let cancel = clock.after(PEER_IDLE_CHECK_MS, function check() {
    const others = node.getConnections().filter((c) => c.remotePeer.toString() !== seed);
    const activity = others.map((c) => ({
      id: c.id,
      busy: c.streams.some((s) => s.protocol === undefined || !standing.has(s.protocol)),
    }));
    const idle = new Set(idleConnections(activity, idleSince, clock.now(), PEER_IDLE_CLOSE_MS));
    for (const c of others) if (idle.has(c.id)) void c.close().catch(() => c.abort(new Error('idle')));
    cancel = clock.after(PEER_IDLE_CHECK_MS, check);
  });
  return { stop: () => cancel() };
}

/**
 * What a closed connection to another tab leaves behind, released: its peer's record in the peer
 * store (identify's addresses and protocols; direct.ts keeps the addresses it dials), once no
 * connection to it is left, and the listener @libp2p/webrtc 6 keeps until the RTCPeerConnection fires
 * `close`, which none ever does (js-libp2p #3567: it holds the whole connection). Without this, each
 * WebRTC connection a tab ever had stays in its memory.
 */
function releaseClosedConnections(
  node: Pick<SwarmNode, 'addEventListener' | 'removeEventListener' | 'getConnections' | 'peerStore'>,
  seed: string,
): { stop(): void } {
  const onClose = (evt: CustomEvent<Connection>) => {
    const conn = evt.detail;
    // The transport's own connection object: not in libp2p's types, hence the guarded reach.
    const pc = (conn as unknown as { maConn?: { peerConnection?: EventTarget } }).maConn?.peerConnection;
    if (typeof pc?.dispatchEvent === 'function') pc.dispatchEvent(new Event('close'));
    const peer = conn.remotePeer;
    if (peer.toString() !== seed && node.getConnections(peer).length === 0)
      void node.peerStore.delete(peer).catch(() => {});
  };
  node.addEventListener('connection:close', onClose);
  return { stop: () => node.removeEventListener('connection:close', onClose) };
}
