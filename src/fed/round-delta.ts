// Round deltas: what a volunteer downloads instead of the whole weight vector when it holds the
// last round's. At each close the seed encodes the change of the weights with the update codec
// (int8 by default: a quarter of the vector), with error feedback of its own: what the codec left
// out of this round's change joins the next one (the residual, kept in the checkpoint). The next
// round's weights are *defined* as old + decode(delta), computed by applyRoundDelta, the one
// function the seed and every volunteer run, so a volunteer that applies the delta rebuilds the
// signed weights bit for bit and checks them against their manifest's hashes. Newcomers, and anyone
// whose rebuild fails, download the full weights as before.
//
// A delta is published as a signed piece manifest (DeltaManifest) that the round manifest carries:
// the pieces travel through the same swarm as the weights', tabs serving them to each other.
import type { PeerId, PrivateKey } from '@libp2p/interface';
import {
  isSha256Hex,
  type PieceManifest,
  parsePieceFields,
  pieceFields,
  type SignedDocument,
  signDocument,
  type VerifiedDocument,
  verifyDocument,
} from '../swarm';
import { compressWithFeedback, decodeUpdate } from './codec';
import { type CodecSettings, checkCodecSettings, FedDocumentError } from './documents';

export interface DeltaManifest extends PieceManifest {
  kind: 'vgpu/delta';
  version: 1;
  /** The weights manifest (id) the delta applies to, and the one it rebuilds. */
  from: string;
  to: string;
  codec: CodecSettings;
}

/** A round's change as the seed encoded it, and the weights it defines. */
export interface RoundDelta {
  bytes: Uint8Array;
  /** from + decode(bytes): the next round's weights. */
  next: Float32Array;
  /** (target + residual) − next: what later deltas still have to send. */
  residual: Float32Array;
}

/**
 * The seed's side: encodes target − from plus the carried residual with `codec`. The weights it
 * defines (`next`) differ from `target` by the new residual, which the next round's delta carries.
 */
export function encodeRoundDelta(
  from: Float32Array,
  target: Float32Array,
  residual: Float32Array | undefined,
  codec: CodecSettings,
): RoundDelta {
  if (target.length !== from.length) throw new RangeError(`target has ${target.length} floats, from ${from.length}`);
  const change = new Float32Array(from.length);
  for (let i = 0; i < change.length; i++) change[i] = target[i]! - from[i]!;
  const compressed = compressWithFeedback(change, residual, codec);
  return {
    bytes: compressed.bytes,
    next: applyRoundDelta(from, compressed.bytes, codec),
    residual: compressed.residual,
  };
}

/**
 * from + decode(bytes), element by element in float32: the seed defines the next weights with it and
 * volunteers rebuild them with it. Throws UpdateFormatError when the bytes do not decode under `codec`.
 */
export function applyRoundDelta(from: Float32Array, bytes: Uint8Array, codec: CodecSettings): Float32Array {
  const change = decodeUpdate(bytes, from.length, codec);
  const next = new Float32Array(from.length);
  for (let i = 0; i < next.length; i++) next[i] = from[i]! + change[i]!;
  return next;
}

/** The signed manifest of a delta's bytes, from weights `from` to weights `to` (manifest ids). */
export async function signDeltaManifest(
  key: PrivateKey,
  signer: PeerId,
  delta: { from: string; to: string; codec: CodecSettings; bytes: Uint8Array },
): Promise<SignedDocument> {
  const manifest: DeltaManifest = {
    kind: 'vgpu/delta',
    version: 1,
    from: delta.from,
    to: delta.to,
    codec: delta.codec,
    ...(await pieceFields(delta.bytes)),
  };
  return signDocument(key, signer, parseDeltaManifest(manifest));
}

export function parseDeltaManifest(value: unknown): DeltaManifest {
  const fail = (why: string): never => {
    throw new FedDocumentError(`delta manifest: ${why}`);
  };
  if (typeof value !== 'object' || value === null) return fail('not an object');
  const m = value as Record<string, unknown>;
  if (m.kind !== 'vgpu/delta' || m.version !== 1) fail(`unknown kind/version ${String(m.kind)}/${String(m.version)}`);
  if (!isSha256Hex(m.from) || !isSha256Hex(m.to)) fail('from and to must be weights manifest ids');
  checkCodecSettings(m.codec, 'delta manifest');
  return {
    kind: 'vgpu/delta',
    version: 1,
    from: m.from as string,
    to: m.to as string,
    codec: m.codec as CodecSettings,
    ...parsePieceFields(m, fail),
  };
}

export const verifyDeltaManifest = (doc: unknown, seed: PeerId | string): Promise<VerifiedDocument<DeltaManifest>> =>
  verifyDocument(doc, seed, parseDeltaManifest);
