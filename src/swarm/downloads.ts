// A tab's downloads and uploads of weights: it verifies a manifest against the seed's key, fetches
// and verifies every piece (from other tabs first, the seed last), and serves the pieces of every
// manifest it downloaded to other tabs.
import type { Connection } from '@libp2p/interface';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import { emptyBitfield } from './announce';
import type { Announcements } from './announcements';
import { assembleWeights, type FetchProgress, fetchPieces } from './fetcher';
import { MAX_PIECE_STREAMS_PER_CONNECTION, TAB_SERVED_MANIFESTS } from './limits';
import { type VerifiedManifest, verifyManifest } from './manifest';
import type { SwarmNode } from './nodes';
import { PIECE_PROTOCOL, type PieceStore, pieceServer, requestPiece, type UploadStats } from './pieces';
import type { SignedDocument } from './signed';

export interface Download {
  manifest: VerifiedManifest;
  weights: Float32Array;
  progress: FetchProgress;
}

export interface DownloadsComponents {
  node: Pick<SwarmNode, 'handle' | 'unhandle'>;
  store: PieceStore;
  /** The seed's peer id: the source of last resort. */
  seed: string;
  /** Whose key signs the weights manifests: the seed, or (behind a helper seed) the run's root. */
  signer: string;
  announcements: Pick<Announcements, 'announce' | 'forget' | 'changed' | 'holders' | 'referred'>;
  /** Keeps a tab's WebRTC addresses (from the seed's referral), and dials it if we are the one to dial. */
  learn(peer: string, addrs: Multiaddr[]): void;
  /** Whether pieces can be fetched from `peer` (it is connected, or one of us can dial the other). */
  reachable(peer: string): boolean;
  /** A connection that can carry pieces to `peer` (the seed or another tab). */
  connection(peer: string, signal: AbortSignal): Promise<Connection>;
  warn(text: string): void;
}

export interface Downloads {
  /** Verifies the manifest against the seed's key, then fetches, verifies and stores every piece. */
  download(doc: SignedDocument, onProgress?: (p: FetchProgress) => void, signal?: AbortSignal): Promise<Download>;
  /** What we uploaded to other tabs, and refused. */
  uploads: UploadStats;
  stop(): Promise<void>;
}

export async function startDownloads(c: DownloadsComponents): Promise<Downloads> {
  /** The manifests we downloaded (or are downloading), oldest first: we serve their pieces. */
  const manifests = new Map<string, VerifiedManifest>();
  const uploads: UploadStats = { uploadedBytes: 0, piecesServed: 0, refused: 0 };
  /** Tabs whose "fetching" claims proved false, over all downloads (a liar delays us once). */
  const distrusted = new Set<string>();
  await c.node.handle(
    PIECE_PROTOCOL,
    pieceServer({
      manifest: (id) => manifests.get(id)?.value,
      store: c.store,
      stats: uploads,
      onRefused: (peer, _status, reason) => c.warn(`refused a piece request from ${peer.slice(-8)}: ${reason}`),
    }),
    { maxInboundStreams: MAX_PIECE_STREAMS_PER_CONNECTION, maxOutboundStreams: MAX_PIECE_STREAMS_PER_CONNECTION },
  );

  async function download(
    doc: SignedDocument,
    onProgress?: (p: FetchProgress) => void,
    signal?: AbortSignal,
  ): Promise<Download> {
    const manifest = await verifyManifest(doc, c.signer);
    manifests.delete(manifest.id); // a download again makes it the newest
    manifests.set(manifest.id, manifest);
    // Older weights than the last TAB_SERVED_MANIFESTS are no longer served or announced.
    for (const old of [...manifests.keys()].slice(0, -TAB_SERVED_MANIFESTS)) {
      manifests.delete(old);
      c.announcements.forget(old);
    }
    const pieces = manifest.value.pieces.length;
    const own = { have: emptyBitfield(pieces), fetching: emptyBitfield(pieces) };
    c.announcements.announce(manifest.id, own);
    const progress = await fetchPieces({
      manifest,
      store: c.store,
      seed: c.seed,
      signal,
      own,
      distrusted,
      holders: () => new Map([...c.announcements.holders(manifest.id)].filter(([peer]) => c.reachable(peer))),
      onOwnChange: c.announcements.changed,
      onReferral: (index, referrals) => {
        // A tab that holds it is asked for it; one still being sent it is dialled now, to be ready.
        for (const r of referrals) {
          if (r.has) c.announcements.referred(manifest.id, r.peer, index);
          if (r.addrs.length > 0) c.learn(r.peer, r.addrs.map(multiaddr));
        }
      },
      request: async (peer, index, s, sent) => {
        const stream = await (await c.connection(peer, s)).newStream(PIECE_PROTOCOL, { signal: s });
        sent();
        return requestPiece(stream, { manifest: manifest.id, index }, { signal: s });
      },
      onProgress,
      onPenalty: (peer, reason) => c.warn(`peer ${peer.slice(-8)} ${reason}`),
    });
    return { manifest, weights: await assembleWeights(manifest, c.store), progress };
  }

  return { download, uploads, stop: () => c.node.unhandle(PIECE_PROTOCOL) };
}
