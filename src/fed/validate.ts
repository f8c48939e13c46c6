// The seed's admission check for one decoded pseudo-gradient, before it can reach aggregation.

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
