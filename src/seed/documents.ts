// The seed's public documents over HTTP: /swarm.json (who the seed is, where to dial it, the
// current weights), /status.json (the run's progress, the swarm's counters and the bytes the seed
// sent), /round.json (the open round), the run's token files under /data/ and the weight pieces
// under /weights/ (for clients without the swarm, and the benchmark's client-server baseline).
import { publicKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import type { Coordinator, CoordinatorStatus } from '../fed';
import { isSha256Hex, type SeedInfo, type SeedNode, type SignedDocument, toBase64, type UploadStats } from '../swarm';
import type { RunData } from './data';
import type { HelperEntry } from './helpers';
import type { FileLookups, JsonRoutes, MemoryFiles } from './http';
import type { IceServer } from './ice';
import type { SentBytes } from './traffic';
import type { WeightsPublisher } from './weights';

export interface SeedStatus extends CoordinatorStatus {
  peerId: string;
  /** Peers connected right now (tabs). */
  peers: number;
  relayReservations: number;
  uploadedBytes: number;
  piecesServed: number;
  refusedRequests: number;
  /** Every byte the seed sent so far, over HTTP and libp2p. */
  sentBytes: SentBytes;
  manifest: { id: string; name: string; totalBytes: number; pieces: number };
}

export interface SeedDocumentsComponents {
  node: Pick<SeedNode, 'peerId' | 'getMultiaddrs' | 'getConnections' | 'services'>;
  key: PrivateKey;
  weights: Pick<WeightsPublisher, 'current'>;
  coordinator: Pick<Coordinator, 'status' | 'currentRound'>;
  uploads: UploadStats;
  sent(): SentBytes;
  /**
   * The DNS names of the seed's TLS certificate: its addresses are advertised under them too, since
   * a browser checks the name it dials against the certificate.
   */
  hostNames?: string[];
  /** The ICE servers for the tab reading /swarm.json (TURN credentials fresh at each read); none by default. */
  iceServers?(): IceServer[];
  /** The run's connected helper seeds (a root's); none by default. */
  helpers?(): HelperEntry[];
}

/** /swarm.json: SeedInfo and the ICE servers tabs use to reach each other behind NAT. */
export type SwarmDocument = SeedInfo & { iceServers: IceServer[] };

export interface SeedDocuments {
  info(): SwarmDocument;
  status(): SeedStatus;
  routes: JsonRoutes;
}

/** What /swarm.json says of a seed or a helper seed. */
export interface SwarmDocumentParts {
  node: Pick<SeedNode, 'peerId' | 'getMultiaddrs'>;
  key: PrivateKey;
  /** The signed weights manifests it serves now. */
  manifests(): SignedDocument[];
  /** The DNS names of its TLS certificate (addresses are advertised under them too). */
  hostNames?: string[];
  iceServers?(): IceServer[];
  helpers?(): HelperEntry[];
  /** A helper's: the run's signer (the root's peer id), and the root's page. */
  run?: string;
  upstream?: string;
}

/** /swarm.json, as read now: who the seed is, where to dial it (WebSockets), what it serves. */
export function swarmDocument(c: SwarmDocumentParts): () => SwarmDocument {
  const peerId = c.node.peerId.toString();
  const publicKey = toBase64(publicKeyToProtobuf(c.key.publicKey));
  return () => ({
    peerId,
    publicKey,
    addrs: underNames(
      c.node
        .getMultiaddrs()
        .map(String)
        .filter((a) => a.includes('/ws')),
      c.hostNames ?? [],
    ),
    manifests: c.manifests(),
    iceServers: c.iceServers?.() ?? [],
    ...(c.helpers ? { helpers: c.helpers() } : {}),
    ...(c.run ? { run: c.run } : {}),
    ...(c.upstream ? { upstream: c.upstream } : {}),
  });
}

export function seedDocuments(c: SeedDocumentsComponents): SeedDocuments {
  const peerId = c.node.peerId.toString();
  const info = swarmDocument({ ...c, manifests: () => [c.weights.current().manifest.signed] });
  const status = (): SeedStatus => {
    const m = c.weights.current().manifest;
    return {
      ...c.coordinator.status(),
      peerId,
      peers: new Set(c.node.getConnections().map((conn) => conn.remotePeer.toString())).size,
      relayReservations: c.node.services.relay.reservations.size,
      uploadedBytes: c.uploads.uploadedBytes,
      piecesServed: c.uploads.piecesServed,
      refusedRequests: c.uploads.refused,
      sentBytes: c.sent(),
      manifest: { id: m.id, name: m.value.name, totalBytes: m.value.totalBytes, pieces: m.value.pieces.length },
    };
  };
  return {
    info,
    status,
    routes: {
      '/swarm.json': info,
      '/status.json': status,
      '/round.json': () => c.coordinator.currentRound() ?? null,
    },
  };
}

/** `addrs` under each of `hostNames` in place of their IP address (first), and as they are. */
function underNames(addrs: string[], hostNames: string[]): string[] {
  const named = hostNames.flatMap((name) => addrs.map((a) => a.replace(/^\/ip[46]\/[^/]+/, `/dns/${name}`)));
  return [...new Set([...named, ...addrs])];
}

/** The run's token files and tokenizer, as volunteers download them. */
export function dataFiles(data: RunData): MemoryFiles {
  return {
    '/data/train.u16': { body: data.files.train, type: 'application/octet-stream' },
    '/data/validation.u16': { body: data.files.validation, type: 'application/octet-stream' },
    '/data/tokenizer.json': { body: data.files.tokenizer, type: 'application/json' },
  };
}

/**
 * The pieces of every servable weights manifest over plain HTTP, by content: /weights/<the piece's
 * sha256, as the manifest lists it>. The same bytes the piece protocol serves, for clients without
 * the swarm.
 */
export function weightPieceFiles(weights: Pick<WeightsPublisher, 'store'>): FileLookups {
  return {
    '/weights/': async (hash) => {
      const body = isSha256Hex(hash) ? await weights.store.get(hash) : undefined;
      return body && { body, type: 'application/octet-stream' };
    },
  };
}
