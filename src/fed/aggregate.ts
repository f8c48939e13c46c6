// Robust aggregation of the round's pseudo-gradients on the seed. Inputs are assumed finite and of
// one length (validateUpdate runs first); sums are kept in float64 so the order of volunteers does
// not change the result beyond the final rounding to f32.

export type AggregationRule = 'mean' | 'trimmed-mean' | 'median-norm-clip';

/**
 * The default: the coordinate-wise trimmed mean drops, per coordinate, the k largest and k smallest
 * values (k ≥ 1 from 3 updates on) before averaging, so up to k bad updates — however large, in
 * whatever coordinates — cannot pull any coordinate outside the range of the honest values, while a
 * plain mean is moved without bound by a single one.
 */
export const DEFAULT_AGGREGATION: AggregationRule = 'trimmed-mean';

export const DEFAULT_TRIM_FRACTION = 0.25;
export const DEFAULT_CLIP_FACTOR = 1;

export interface AggregateOptions {
  /** trimmed-mean: k = floor(trimFraction·n), at least 1 when n ≥ 3, 0 below; in [0, 0.5). Default 0.25. */
  trimFraction?: number;
  /** median-norm-clip: each update is scaled down to at most clipFactor × the median L2 norm. Default 1. */
  clipFactor?: number;
}

/** L2 norm, accumulated in float64. */
export function l2Norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/** Values trimmed from each end per coordinate for n updates; never so many that nothing is left. */
export function trimCount(n: number, trimFraction = DEFAULT_TRIM_FRACTION): number {
  if (!(trimFraction >= 0 && trimFraction < 0.5))
    throw new RangeError(`trimFraction must be in [0, 0.5), got ${trimFraction}`);
  if (n < 3) return 0;
  return Math.min(Math.max(1, Math.floor(trimFraction * n)), Math.floor((n - 1) / 2));
}

export function aggregate(updates: Float32Array[], rule: AggregationRule, opts: AggregateOptions = {}): Float32Array {
  const first = updates[0];
  if (first === undefined) throw new RangeError('aggregate needs at least one update');
  const length = first.length;
  for (const [k, u] of updates.entries()) {
    if (u.length !== length) throw new RangeError(`update ${k} has ${u.length} floats, update 0 has ${length}`);
  }
  switch (rule) {
    case 'mean':
      return weightedMean(updates, length, new Float64Array(updates.length).fill(1));
    case 'trimmed-mean':
      return trimmedMean(updates, length, trimCount(updates.length, opts.trimFraction));
    case 'median-norm-clip':
      return medianNormClip(updates, length, opts.clipFactor ?? DEFAULT_CLIP_FACTOR);
    default:
      throw new RangeError(`unknown aggregation rule ${String(rule satisfies never)}`);
  }
}

/** (1/n)·Σ w_k·u_k, for n ≥ 1 updates of `length` floats. */
function weightedMean(updates: Float32Array[], length: number, weights: Float64Array): Float32Array {
  const n = updates.length;
  const out = new Float32Array(length);
  const sum = new Float64Array(Math.min(length, 1 << 16)); // one chunk of float64 sums, reused
  for (let start = 0; start < length; start += sum.length) {
    const end = Math.min(start + sum.length, length);
    sum.fill(0);
    // Update-major inside a chunk: each update is read sequentially, and the chunk of sums stays in cache.
    for (const [k, u] of updates.entries()) {
      const w = weights[k]!;
      if (w === 0) continue;
      for (let i = start; i < end; i++) sum[i - start]! += w * u[i]!;
    }
    for (let i = start; i < end; i++) out[i] = sum[i - start]! / n;
  }
  return out;
}

function trimmedMean(updates: Float32Array[], length: number, k: number): Float32Array {
  const n = updates.length;
  if (k === 0) return weightedMean(updates, length, new Float64Array(n).fill(1));
  const out = new Float32Array(length);
  const scratch = new Float64Array(n);
  const keep = n - 2 * k;
  for (let i = 0; i < length; i++) {
    // Insertion sort of n values: for the handful of volunteers a round has, faster than anything
    // general; past 32 the built-in numeric sort of the typed array takes over.
    if (n <= 32) {
      for (let a = 0; a < n; a++) {
        const x = updates[a]![i]!;
        let b = a - 1;
        while (b >= 0 && scratch[b]! > x) {
          scratch[b + 1] = scratch[b]!;
          b--;
        }
        scratch[b + 1] = x;
      }
    } else {
      for (let a = 0; a < n; a++) scratch[a] = updates[a]![i]!;
      scratch.sort();
    }
    let s = 0;
    for (let a = k; a < n - k; a++) s += scratch[a]!;
    out[i] = s / keep;
  }
  return out;
}

/** Median of the norms (the mean of the two middle ones for even n), then a clipped mean. */
function medianNormClip(updates: Float32Array[], length: number, clipFactor: number): Float32Array {
  if (!(clipFactor > 0 && Number.isFinite(clipFactor)))
    throw new RangeError(`clipFactor must be positive and finite, got ${clipFactor}`);
  const n = updates.length;
  const norms = Float64Array.from(updates, l2Norm);
  const sorted = Float64Array.from(norms).sort();
  const median = n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  const limit = clipFactor * median;
  const weights = norms.map((norm) => (norm > limit ? limit / norm : 1));
  return weightedMean(updates, length, weights);
}
