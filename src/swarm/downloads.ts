// A tab's downloads and uploads of weights: it verifies a manifest against the seed's key, fetches
// and verifies every piece (from other tabs first, the seed last), and serves the pieces of every
// manifest it downloaded to other tabs. The same goes for any other signed piece manifest (a
// round's delta, fetchBytes), and for weights the tab rebuilt itself from a delta (adopt: each piece
// is checked against the signed manifest before it is served).
import type { Connection } from '@libp2p/interface';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import { emptyBitfield, setBit } from './announce';
import type { Announcements } from './announcements';
import { assembleBytes, type FetchProgress, fetchPieces, startingProgress } from './fetcher';
import { MAX_PIECE_STREAMS_PER_CONNECTION, TAB_SERVED_MANIFESTS } from './limits';
import {
  ManifestError,
  pieceFields,
  pieceRange,
  type VerifiedManifest,
  type VerifiedPieces,
  verifyManifest,
} from './manifest';
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
  /** Fetches, verifies and stores every piece of another signed piece manifest (verified by the caller); its bytes. */
  fetchBytes(manifest: VerifiedPieces, signal?: AbortSignal): Promise<Uint8Array>;
  /** Weights this tab holds whole (downloaded or adopted, and still served), by manifest id. */
  held(id: string): Promise<Float32Array | undefined>;
  /**
   * Serves `weights`, rebuilt here, under the signed manifest `doc`, once every piece matches it;
   * throws ManifestError when one does not (nothing is stored then).
   */
  adopt(doc: SignedDocument, weights: Float32Array): Promise<Download>;
  /** What we uploaded to other tabs, and refused. */
  uploads: UploadStats;
  stop(): Promise<void>;
}

export async function startDownloads(c: DownloadsComponents): Promise<Downloads> {
  /** The manifests we downloaded (or are downloading), oldest first: we serve their pieces. */
  const manifests = new Map<string, VerifiedPieces>();
  /** Which of them are weights. */
  const weightIds = new Set<string>();
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

  /** Serves and announces `manifest` with the availability `own`; older ones past TAB_SERVED_MANIFESTS go. */
  function serve(manifest: VerifiedPieces, own: { have: Uint8Array; fetching: Uint8Array }): void {
    manifests.delete(manifest.id); // a download again makes it the newest
    manifests.set(manifest.id, manifest);
    for (const old of [...manifests.keys()].slice(0, -TAB_SERVED_MANIFESTS)) {
      manifests.delete(old);
      weightIds.delete(old);
      c.announcements.forget(old);
    }
    c.announcements.announce(manifest.id, own);
  }

  async function fetchAll(
    manifest: VerifiedPieces,
    onProgress?: (p: FetchProgress) => void,
    signal?: AbortSignal,
  ): Promise<FetchProgress> {
    const pieces = manifest.value.pieces.length;
    const own = { have: emptyBitfield(pieces), fetching: emptyBitfield(pieces) };
    serve(manifest, own);
    return fetchPieces({
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
  }

  const floats = (bytes: Uint8Array) => new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);

  return {
    async download(doc, onProgress, signal) {
      const manifest = await verifyManifest(doc, c.signer);
      weightIds.add(manifest.id);
      const progress = await fetchAll(manifest, onProgress, signal);
      return { manifest, weights: floats(await assembleBytes(manifest, c.store)), progress };
    },
    async fetchBytes(manifest, signal) {
      await fetchAll(manifest, undefined, signal);
      return assembleBytes(manifest, c.store);
    },
    async held(id) {
      const manifest = weightIds.has(id) ? manifests.get(id) : undefined;
      if (!manifest) return undefined;
      // The store may have lost a piece since (evicted, cleared): then we do not hold it.
      return assembleBytes(manifest, c.store).then(floats, () => undefined);
    },
    async adopt(doc, weights) {
      const manifest = await verifyManifest(doc, c.signer);
      const m = manifest.value;
      const bytes = new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength);
      const built = await pieceFields(bytes);
      if (built.sha256 !== m.sha256 || built.totalBytes !== m.totalBytes)
        throw new ManifestError(`weights rebuilt here do not match ${manifest.id.slice(0, 12)}'s sha256`);
      const own = { have: emptyBitfield(m.pieces.length), fetching: emptyBitfield(m.pieces.length) };
      for (const [i, hash] of m.pieces.entries()) {
        if (built.pieces[i] !== hash) throw new ManifestError(`piece ${i} rebuilt here does not match its hash`);
        await c.store.put(hash, bytes.slice(...pieceRange(m, i)));
        setBit(own.have, i);
      }
      weightIds.add(manifest.id);
      serve(manifest, own);
      return { manifest, weights, progress: startingProgress(m.pieces.length, m.pieces.length) };
    },
    uploads,
    stop: () => c.node.unhandle(PIECE_PROTOCOL),
  };
}
