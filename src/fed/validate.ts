// The checks an update passes before it can reach aggregation, the same at the root and at a helper:
// from its header (before its body is read), then its decoded pseudo-gradient.
import { decodeUpdate } from './codec';
import type { CodecSettings, RoundManifest } from './documents';
import type { UpdateHeader } from './protocol';
import { creditedTokens } from './verify';

export interface ReceivedUpdate {
  round: number;
  /** Id (hash) of the round manifest the volunteer trained from. */
  manifest: string;
  vector: Float32Array;
}

export interface ExpectedUpdate {
  round: number;
  manifest: string;
  length: number;
  /** Smallest L2 norm accepted: less carries no work (defense.ts's admissionBounds). */
  minNorm: number;
  /** Largest L2 norm accepted: a coarse bound; robust aggregation handles the subtler outliers. */
  maxNorm: number;
}

/** undefined when `u` is acceptable for this round, else why not. Pure; one pass over the vector. */
export function validateUpdate(u: ReceivedUpdate, expected: ExpectedUpdate): string | undefined {
  if (u.round !== expected.round) return `wrong round ${u.round}, expected ${expected.round}`;
  if (u.manifest !== expected.manifest) return `wrong manifest ${u.manifest}, expected ${expected.manifest}`;
  if (u.vector.length !== expected.length) return `wrong length ${u.vector.length}, expected ${expected.length}`;
  const v = u.vector;
  let s = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (!Number.isFinite(x)) return `non-finite value ${x} at index ${i}`;
    s += x * x;
  }
  const norm = Math.sqrt(s);
  if (!(norm <= expected.maxNorm)) return `norm ${norm} above maxNorm ${expected.maxNorm}`;
  if (norm < expected.minNorm)
    return `norm ${norm} below minNorm ${expected.minNorm}: too small to carry the round's work`;
  return undefined;
}

/** The open round as admission sees it. */
export interface AdmittingRound {
  manifest: Pick<RoundManifest, 'round' | 'weightsId' | 'assignments' | 'hyper'>;
  /** Volunteers whose update this round has already had. */
  tried: ReadonlySet<string>;
  /** The largest body the round's codec makes. */
  maxBytes: number;
}

/**
 * Why `peer`'s update, announced by `header`, does not fit the open round `r` (whose round is
 * `header.round` or earlier: lateness is the caller's to judge); undefined if it fits. Its body is
 * not read yet.
 */
export function assignedUpdateRefusal(
  peer: string,
  header: Pick<UpdateHeader, 'round' | 'weights' | 'tokens' | 'bytes'>,
  r: AdmittingRound,
): string | undefined {
  if (header.round > r.manifest.round) return `round ${header.round} has not started`;
  if (header.weights !== r.manifest.weightsId) return "trained from other weights than the round's";
  if (!(peer in r.manifest.assignments))
    return 'not assigned in this round (a volunteer that joins is assigned from the next round)';
  if (r.tried.has(peer)) return 'duplicate: this round already has an update from this peer';
  // The claim is not credited (creditedTokens is), but more than the round asked is nonsense.
  if (header.tokens > creditedTokens(r.manifest, peer)) {
    const h = r.manifest.hyper;
    return `claims ${header.tokens} tokens, more than the round's ${h.steps}×${h.batchSize}×${h.context}`;
  }
  if (header.bytes > r.maxBytes) return `${header.bytes} bytes, more than the round's codec makes (${r.maxBytes})`;
  return undefined;
}

/**
 * Decodes an update's body with the round's codec and validates it against `expected` (`weights`: the
 * manifest it says it started from); its vector, or why not: `malformed` bytes or an `invalid` vector.
 */
export function decodeValidUpdate(
  body: Uint8Array,
  codec: CodecSettings,
  weights: string,
  expected: ExpectedUpdate,
): { vector: Float32Array } | { reason: string; kind: 'malformed' | 'invalid' } {
  let vector: Float32Array;
  try {
    vector = decodeUpdate(body, expected.length, codec);
  } catch (e) {
    return { reason: (e as Error).message, kind: 'malformed' };
  }
  const invalid = validateUpdate({ round: expected.round, manifest: weights, vector }, expected);
  return invalid ? { reason: invalid, kind: 'invalid' } : { vector };
}
