// The seed's public documents over HTTP: /swarm.json (who the seed is, where to dial it, the
// current weights), /status.json (the run's progress and the swarm's counters), /round.json (the
// open round) and the run's token files under /data/.
import { publicKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import type { Coordinator, CoordinatorStatus } from '../fed';
import { type SeedInfo, type SeedNode, toBase64, type UploadStats } from '../swarm';
import type { RunData } from './data';
import type { JsonRoutes, MemoryFiles } from './http';
import type { WeightsPublisher } from './weights';

export interface SeedStatus extends CoordinatorStatus {
  peerId: string;
  /** Peers connected right now (tabs). */
  peers: number;
  relayReservations: number;
  uploadedBytes: number;
  piecesServed: number;
  refusedRequests: number;
  manifest: { id: string; name: string; totalBytes: number; pieces: number };
}

export interface SeedDocumentsComponents {
  node: Pick<SeedNode, 'peerId' | 'getMultiaddrs' | 'getConnections' | 'services'>;
  key: PrivateKey;
  weights: Pick<WeightsPublisher, 'current'>;
  coordinator: Pick<Coordinator, 'status' | 'currentRound'>;
  uploads: UploadStats;
}

export interface SeedDocuments {
  info(): SeedInfo;
  status(): SeedStatus;
  routes: JsonRoutes;
}

export function seedDocuments(c: SeedDocumentsComponents): SeedDocuments {
  const peerId = c.node.peerId.toString();
  const publicKey = toBase64(publicKeyToProtobuf(c.key.publicKey));
  const info = (): SeedInfo => ({
    peerId,
    publicKey,
    addrs: c.node
      .getMultiaddrs()
      .map(String)
      .filter((a) => a.includes('/ws')),
    manifests: [c.weights.current().manifest.signed],
  });
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

/** The run's token files and tokenizer, as volunteers download them. */
export function dataFiles(data: RunData): MemoryFiles {
  return {
    '/data/train.u16': { body: data.files.train, type: 'application/octet-stream' },
    '/data/validation.u16': { body: data.files.validation, type: 'application/octet-stream' },
    '/data/tokenizer.json': { body: data.files.tokenizer, type: 'application/json' },
  };
}
