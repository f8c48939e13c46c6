// A tab's place in the swarm: connects to the seed, hears and sends announcements, serves the
// pieces it holds, and downloads manifests from the seed and other tabs. Runs on the page's main
// thread (WebRTC is not available in workers); also runs in Node for tests and Node volunteers.
// Built from parts, each made from the components it needs; stopped in reverse order.
import type { PrivateKey, Stream } from '@libp2p/interface';
import { startedParts } from '../util/parts';
import { startAnnouncements } from './announcements';
import { createDirectLinks } from './direct';
import { type Download, startDownloads } from './downloads';
import type { FetchProgress } from './fetcher';
import { MAX_ANNOUNCE_ADDRS } from './limits';
import { createTabNode, type SwarmNode } from './nodes';
import type { PieceStore, UploadStats } from './pieces';
import { createSeedLink, type SeedInfo } from './seed-link';
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
  const seed = opts.seed.peerId;
  let onWarning: ((text: string) => void) | undefined;
  const warn = (text: string) => onWarning?.(text);

  const parts = startedParts();
  parts.add(node);
  try {
    const link = parts.add(createSeedLink({ node, pubsub: node.services.pubsub, seed: opts.seed }));
    const direct = createDirectLinks({ node, self, warn });
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
        announcements,
        reachable: direct.reachable,
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
      seedStream: link.stream,
      subscribeToSeed: link.subscribe,
      get onWarning() {
        return onWarning;
      },
      set onWarning(handler) {
        onWarning = handler;
      },
      stop: () => parts.stop(),
    };
  } catch (e) {
    // A seed that cannot be dialled must not leave a node (and its timers) behind: the tab retries.
    await parts.stop().catch(() => {});
    throw e;
  }
}
