// The weights a tab fetches as soon as it joins: every manifest the seed offers in /swarm.json,
// verified, pulled from the seed and other tabs, assembled and hashed. Reported as events; a seed
// that serves corrupted pieces is reported as such (the page asks the volunteer to tell its researcher).
// Rounds may close while a slow tab downloads: a manifest the seed retired meanwhile is dropped, and
// the tab asks the seed again what it serves (at most MAX_OFFER_REFRESHES times).
import type { ProgressStore } from '../storage';
import {
  ManifestRetiredError,
  runSigner,
  SeedServesCorruptPiecesError,
  type SignedDocument,
  type SwarmClient,
  sha256Hex,
  type VerifiedManifest,
  verifyManifest,
} from '../swarm';
import { MAX_OFFER_REFRESHES } from './limits';
import type { DownloadView, TabEvent } from './state';

export interface DownloadDeps {
  client: SwarmClient;
  storage: ProgressStore & { saveManifest(id: string, signed: SignedDocument): Promise<void> };
  /** The manifests the seed serves now (its /swarm.json read again). */
  offered(): Promise<SignedDocument[]>;
  emit(e: TabEvent): void;
  /** Ends the downloads (the tab's link to this seed is given up). */
  signal?: AbortSignal;
}

export async function downloadOfferedWeights({ client, storage, offered, emit, signal }: DownloadDeps): Promise<void> {
  const done = new Set<string>();
  let manifests = client.seed.manifests;
  for (let refreshes = 0; ; refreshes++) {
    let retired = false;
    for (const signed of manifests) {
      if (signal?.aborted) return;
      let id: string | undefined;
      try {
        const m = await verifyManifest(signed, runSigner(client.seed));
        id = m.id;
        if (done.has(id)) continue;
        await downloadOne(m, { client, storage, emit, signal });
        done.add(id);
      } catch (e) {
        if (e instanceof ManifestRetiredError && id) {
          retired = true;
          emit({ type: 'download-dropped', id });
          continue;
        }
        if (signal?.aborted) return;
        emit({ type: 'warning', text: `download failed: ${(e as Error).message}` });
        if (e instanceof SeedServesCorruptPiecesError) emit({ type: 'seed-corrupt', corruptPieces: e.corruptPieces });
      }
    }
    if (!retired || refreshes >= MAX_OFFER_REFRESHES) break;
    try {
      manifests = await offered();
    } catch (e) {
      emit({ type: 'warning', text: `could not read the seed's weights again: ${(e as Error).message}` });
      break;
    }
  }
  emit({ type: 'downloads-done' });
}

async function downloadOne(
  m: VerifiedManifest,
  { client, storage, emit, signal }: Pick<DownloadDeps, 'client' | 'storage' | 'emit' | 'signal'>,
): Promise<void> {
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
  const d = await client.download(
    m.signed,
    (p) => {
      view = { ...view, ...p };
      emit({ type: 'download', download: view });
    },
    signal,
  );
  await storage.saveManifest(d.manifest.id, d.manifest.signed);
  const bytes = new Uint8Array(d.weights.buffer, d.weights.byteOffset, d.weights.byteLength);
  emit({ type: 'download', download: { ...view, ...d.progress, done: true, weightsSha256: await sha256Hex(bytes) } });
}
