// The weights publisher: signs a manifest for each weight vector the coordinator puts up, keeps the
// newest SEED_SERVABLE_MANIFESTS of them servable (their pieces in memory, copies of the vectors:
// servableWeights, which a helper seed uses for its root's), and drops the pieces of older ones.
// With each vector it signs and serves the round's delta (fed/round-delta.ts) and second moment
// (fed/second-moment.ts), when the coordinator gives them: the newest of each only.
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import {
  type DeltaManifest,
  type MomentManifest,
  type PublishedRound,
  type RoundExtras,
  signDeltaManifest,
  signMomentManifest,
  verifyDeltaManifest,
  verifyMomentManifest,
} from '../fed';
import type { GptConfig } from '../model';
import {
  buildManifest,
  type MemoryPieceStore,
  memoryPieceStore,
  type PieceManifest,
  type PieceStore,
  pieceRange,
  SEED_SERVABLE_MANIFESTS,
  type SignedDocument,
  signManifest,
  type VerifiedDocument,
  type VerifiedManifest,
  verifyManifest,
} from '../swarm';

export interface WeightsPublisherComponents {
  /** The seed's key: it signs every manifest. */
  key: PrivateKey;
  model: GptConfig;
  /** Keeps each new manifest (the run folder's manifest.json). */
  save(signed: SignedDocument): Promise<void>;
}

export interface PublishedWeights {
  manifest: VerifiedManifest;
  /** A copy of the vector the manifest describes; its pieces are views into it. */
  weights: Float32Array;
}

export interface WeightsPublisher {
  /**
   * Signs a manifest for a copy of `params` (the coordinator updates them in place) and serves it;
   * and, when given, the round's delta (naming that manifest as its `to`) and second moment.
   */
  publish(params: Float32Array, name: string, extras?: RoundExtras): Promise<PublishedRound>;
  /** The newest weights published; throws before the first. */
  current(): PublishedWeights;
  /** A servable manifest (weights, the delta or the second moment), by id. */
  manifest(id: string): PieceManifest | undefined;
  /** The pieces of every servable manifest, by hash. */
  readonly store: PieceStore;
}

export function createWeightsPublisher(c: WeightsPublisherComponents): WeightsPublisher {
  const peerId = peerIdFromPrivateKey(c.key);
  const shelf = servableWeights();
  return {
    async publish(params, name, extras = {}) {
      const weights = params.slice();
      const manifest = await verifyManifest(
        await signManifest(c.key, peerId, await buildManifest(weights, name, c.model)),
        peerId,
      );
      // The same vector under the same name (a round issued again) is the same manifest.
      if (shelf.newest()?.manifest.id !== manifest.id) {
        await shelf.add(manifest, weights);
        await c.save(manifest.signed);
      }
      const published: PublishedRound = { weights: manifest };
      const { delta, secondMoment } = extras;
      if (delta) {
        published.delta = await signDeltaManifest(c.key, peerId, { ...delta, to: manifest.id });
        await shelf.setExtra(await verifyDeltaManifest(published.delta, peerId), delta.bytes);
      }
      if (secondMoment) {
        published.secondMoment = await signMomentManifest(c.key, peerId, secondMoment, weights.length);
        await shelf.setExtra(await verifyMomentManifest(published.secondMoment, peerId), secondMoment);
      }
      return published;
    },
    current() {
      const newest = shelf.newest();
      if (!newest) throw new Error('no weights published yet');
      return newest;
    },
    manifest: shelf.manifest,
    store: shelf.store,
  };
}

/**
 * The newest SEED_SERVABLE_MANIFESTS weight vectors and the newest round delta and second moment,
 * with their pieces: a seed's, or a helper's copy of its root's.
 */
export interface ServableWeights {
  /** Serves `weights` under `manifest` (verified), and drops the pieces of the oldest past the limit. */
  add(manifest: VerifiedManifest, weights: Float32Array): Promise<void>;
  /**
   * Serves `bytes` under `manifest` (verified) instead of the last one of its kind: a round's delta
   * (only holders of the newest weights' predecessor can use one) or its second moment.
   */
  setExtra(manifest: VerifiedDocument<DeltaManifest | MomentManifest>, bytes: Uint8Array): Promise<void>;
  newest(): PublishedWeights | undefined;
  /** A servable manifest (weights, the delta or the second moment), by id. */
  manifest(id: string): PieceManifest | undefined;
  readonly store: MemoryPieceStore;
}

export function servableWeights(): ServableWeights {
  /** Oldest first. */
  const servable: PublishedWeights[] = [];
  /** The newest delta and second moment served, by kind. */
  const extras = new Map<string, VerifiedDocument<DeltaManifest | MomentManifest>>();
  const store: MemoryPieceStore = memoryPieceStore();
  /** Puts each piece of `m`, a view into `bytes`, in the store. */
  const putPieces = async (m: PieceManifest, bytes: Uint8Array) => {
    for (const [i, hash] of m.pieces.entries()) await store.put(hash, bytes.subarray(...pieceRange(m, i)));
  };
  return {
    async add(manifest, weights) {
      await putPieces(manifest.value, new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
      servable.push({ manifest, weights });
      const dropped = servable.splice(0, Math.max(0, servable.length - SEED_SERVABLE_MANIFESTS));
      // A piece of a dropped manifest may be a piece of a kept one too (an unchanged part of the vector).
      const kept = new Set(servable.flatMap((w) => w.manifest.value.pieces));
      for (const w of dropped) for (const hash of w.manifest.value.pieces) if (!kept.has(hash)) store.delete(hash);
    },
    async setExtra(manifest, bytes) {
      const last = extras.get(manifest.value.kind);
      if (last?.id === manifest.id) return;
      if (last) for (const hash of last.value.pieces) store.delete(hash);
      await putPieces(manifest.value, bytes);
      extras.set(manifest.value.kind, manifest);
    },
    newest: () => servable.at(-1),
    manifest: (id) =>
      [...extras.values()].find((m) => m.id === id)?.value ??
      servable.find((w) => w.manifest.id === id)?.manifest.value,
    store,
  };
}
