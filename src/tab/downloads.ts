// The weights a tab fetches as soon as it joins: every manifest the seed offers in /swarm.json,
// verified, pulled from the seed and other tabs, assembled and hashed. Reported as events; a seed
// that serves corrupted pieces is reported as such (the page asks the volunteer to tell its researcher).
import type { ProgressStore } from '../storage';
import {
  SeedServesCorruptPiecesError,
  type SignedDocument,
  type SwarmClient,
  sha256Hex,
  verifyManifest,
} from '../swarm';
import type { DownloadView, TabEvent } from './state';

export interface DownloadDeps {
  client: SwarmClient;
  storage: ProgressStore & { saveManifest(id: string, signed: SignedDocument): Promise<void> };
  emit(e: TabEvent): void;
}

export async function downloadOfferedWeights({ client, storage, emit }: DownloadDeps): Promise<void> {
  for (const signed of client.seed.manifests) {
    try {
      const m = await verifyManifest(signed, client.seed.peerId);
      let view: DownloadView = {
        id: m.id,
        name: m.value.name,
        totalBytes: m.value.totalBytes,
        done: false,
        held: 0,
        total: m.value.pieces.length,
        downloadedBytes: 0,
        fromSeedBytes: 0,
        fromPeersBytes: 0,
        corruptPieces: 0,
        bannedPeers: [],
      };
      emit({ type: 'download', download: view });
      const d = await client.download(signed, (p) => {
        view = { ...view, ...p };
        emit({ type: 'download', download: view });
      });
      await storage.saveManifest(d.manifest.id, d.manifest.signed);
      const bytes = new Uint8Array(d.weights.buffer, d.weights.byteOffset, d.weights.byteLength);
      emit({
        type: 'download',
        download: { ...view, ...d.progress, done: true, weightsSha256: await sha256Hex(bytes) },
      });
    } catch (e) {
      emit({ type: 'warning', text: `download failed: ${(e as Error).message}` });
      if (e instanceof SeedServesCorruptPiecesError) emit({ type: 'seed-corrupt', corruptPieces: e.corruptPieces });
    }
  }
  emit({ type: 'downloads-done' });
}
