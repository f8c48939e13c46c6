// Weight manifests: what a weight vector is (model config, layout version, size) and the sha256 of
// each piece of it. The seed signs one per weight vector; its id (sha256 of the signed body) names
// the vector everywhere: in piece requests, in announcements, in the tab's cache.
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { type GptConfig, LAYOUT_VERSION, paramLayout } from '../model';
import { isSha256Hex, sha256Hex } from './bytes';
import { MAX_MODEL_BYTES, PIECE_BYTES } from './limits';
import { type SignedDocument, signDocument, type VerifiedDocument, verifyDocument } from './signed';

/** What the piece protocol and the fetcher need of a manifest: a byte vector cut into hashed pieces. */
export interface PieceManifest {
  /** Bytes of the whole vector. */
  totalBytes: number;
  pieceBytes: number;
  /** sha256 (hex) of each piece, in order. */
  pieces: string[];
  /** sha256 (hex) of the whole vector: the final check after assembly. */
  sha256: string;
}

export interface WeightsManifest extends PieceManifest {
  kind: 'vgpu/weights';
  version: 1;
  /** Human name, e.g. "default" or "round 12". */
  name: string;
  model: GptConfig;
  layoutVersion: number;
}

export type VerifiedManifest = VerifiedDocument<WeightsManifest>;
export type VerifiedPieces = VerifiedDocument<PieceManifest>;

export class ManifestError extends Error {
  override name = 'ManifestError';
}

export function pieceCount(totalBytes: number, pieceBytes: number): number {
  return Math.ceil(totalBytes / pieceBytes);
}

/** Byte range [start, end) of piece `index`. */
export function pieceRange(m: PieceManifest, index: number): [number, number] {
  const start = index * m.pieceBytes;
  return [start, Math.min(start + m.pieceBytes, m.totalBytes)];
}

/** Cuts `bytes` into PIECE_BYTES pieces and hashes them. */
export async function pieceFields(bytes: Uint8Array): Promise<PieceManifest> {
  const pieces: string[] = [];
  for (let start = 0; start < bytes.length; start += PIECE_BYTES)
    pieces.push(await sha256Hex(bytes.subarray(start, start + PIECE_BYTES)));
  return { totalBytes: bytes.length, pieceBytes: PIECE_BYTES, pieces, sha256: await sha256Hex(bytes) };
}

/** Cuts `weights` into pieces and hashes them. The vector must match `model`'s layout. */
export async function buildManifest(weights: Float32Array, name: string, model: GptConfig): Promise<WeightsManifest> {
  const bytes = new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength);
  return parseWeightsManifest({
    kind: 'vgpu/weights',
    version: 1,
    name,
    model,
    layoutVersion: LAYOUT_VERSION,
    ...(await pieceFields(bytes)),
  });
}

export function signManifest(key: PrivateKey, signer: PeerId, m: WeightsManifest): Promise<SignedDocument> {
  return signDocument(key, signer, m);
}

/** Checks the signature against the seed's peer id, then every field. Throws a clear error. */
export function verifyManifest(doc: unknown, seed: PeerId | string): Promise<VerifiedManifest> {
  return verifyDocument(doc, seed, parseWeightsManifest);
}

/** Shape and consistency checks; returns the manifest typed, or throws ManifestError naming the field. */
export function parseWeightsManifest(value: unknown): WeightsManifest {
  const fail = (why: string): never => {
    throw new ManifestError(`weights manifest: ${why}`);
  };
  if (typeof value !== 'object' || value === null) return fail('not an object');
  const m = value as Record<string, unknown>;
  if (m.kind !== 'vgpu/weights' || m.version !== 1) fail(`unknown kind/version ${String(m.kind)}/${String(m.version)}`);
  if (typeof m.name !== 'string' || m.name.length > 200) fail('name must be a string of at most 200 characters');
  if (m.layoutVersion !== LAYOUT_VERSION)
    fail(`layout version ${String(m.layoutVersion)}, this build reads ${LAYOUT_VERSION}`);
  const { totalBytes, pieceBytes, pieces, sha256 } = parsePieceFields(m, fail);
  if (typeof m.model !== 'object' || m.model === null) fail('model must be a GPT config object');
  let layoutBytes = 0;
  try {
    layoutBytes = paramLayout(m.model as GptConfig).total * 4;
  } catch (e) {
    fail(`model: ${(e as Error).message}`);
  }
  if (layoutBytes !== totalBytes)
    fail(`totalBytes ${String(totalBytes)} does not match the model's layout (${layoutBytes} bytes)`);
  const model = m.model as GptConfig;
  return {
    kind: 'vgpu/weights',
    version: 1,
    name: m.name as string,
    model: { vocab: model.vocab, context: model.context, layers: model.layers, heads: model.heads, width: model.width },
    layoutVersion: LAYOUT_VERSION,
    totalBytes,
    pieceBytes,
    pieces,
    sha256,
  };
}

/**
 * Checks a manifest's piece fields (sizes within MAX_MODEL_BYTES and PIECE_BYTES, one hash per
 * piece); `fail` throws naming the manifest.
 */
export function parsePieceFields(m: Record<string, unknown>, fail: (why: string) => never): PieceManifest {
  const { totalBytes, pieceBytes, pieces, sha256 } = m;
  if (!Number.isInteger(totalBytes) || (totalBytes as number) < 1 || (totalBytes as number) > MAX_MODEL_BYTES)
    fail(`totalBytes must be an integer in [1, ${MAX_MODEL_BYTES}]`);
  if (!Number.isInteger(pieceBytes) || (pieceBytes as number) < 1 || (pieceBytes as number) > PIECE_BYTES)
    fail(`pieceBytes must be an integer in [1, ${PIECE_BYTES}]`);
  if (!Array.isArray(pieces) || pieces.length !== pieceCount(totalBytes as number, pieceBytes as number))
    fail('pieces must list one hash per piece');
  if (!(pieces as unknown[]).every(isSha256Hex) || !isSha256Hex(sha256)) fail('hashes must be 64 lowercase hex digits');
  return {
    totalBytes: totalBytes as number,
    pieceBytes: pieceBytes as number,
    pieces: pieces as string[],
    sha256: sha256 as string,
  };
}
