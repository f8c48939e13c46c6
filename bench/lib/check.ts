// Every benchmark checks every implementation's output before it times it: a fast but wrong
// implementation must fail the benchmark, loudly, not win it.

/** |got − want| ≤ atol + rtol·|want| at every checked element. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

export class OutputCheckError extends Error {
  override name = 'OutputCheckError';
}

/**
 * Throws an OutputCheckError naming the implementation, the case and the worst element unless `got`
 * matches `want`: element by element, or, with `indices`, `got[indices[j]]` against `want[j]`
 * (a reference computed at sampled elements only).
 */
export function checkOutput(
  what: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: Tolerance,
  indices?: ArrayLike<number>,
): void {
  const n = indices ? indices.length : want.length;
  if (!indices && got.length !== want.length) {
    throw new OutputCheckError(`${what}: ${got.length} values, the reference has ${want.length}`);
  }
  // j walks `want`; i is the element of `got` it is the reference for.
  let worst: { i: number; j: number; excess: number } | undefined;
  for (let j = 0; j < n; j++) {
    const i = indices ? indices[j]! : j;
    const excess = Math.abs(got[i]! - want[j]!) - (tol.atol + tol.rtol * Math.abs(want[j]!));
    // `!(excess <= …)` also catches NaN.
    if (!(excess <= 0) && (!worst || !(excess <= worst.excess))) worst = { i, j, excess };
  }
  if (worst) {
    throw new OutputCheckError(
      `${what}: element ${worst.i} is ${got[worst.i]}, the reference ${want[worst.j]} (tolerance ${tol.atol} + ${tol.rtol}·|ref|)`,
    );
  }
}

/** `count` distinct indices in [0, n), spread deterministically (a sample for checking big outputs). */
export function sampleIndices(n: number, count: number, seed = 1): Uint32Array {
  if (count >= n) return Uint32Array.from({ length: n }, (_, i) => i);
  const picked = new Set<number>();
  let x = seed >>> 0 || 1;
  while (picked.size < count) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    picked.add((x >>> 0) % n);
  }
  return Uint32Array.from([...picked].sort((a, b) => a - b));
}
