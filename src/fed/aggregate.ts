// Robust aggregation of the round's pseudo-gradients on the seed. Inputs are assumed finite and of
// one length (validateUpdate runs first); sums are kept in float64 so the order of volunteers does
// not change the result beyond the final rounding to f32.
import { createRandom } from '../util/random';

export const AGGREGATION_RULES = ['mean', 'trimmed-mean', 'median-norm-clip', 'centered-clip'] as const;
export type AggregationRule = (typeof AGGREGATION_RULES)[number];

/**
 * The robust rule of choice, the seed's default (its coordinator keeps the reference and the recent
 * distances this rule needs between rounds: defense.ts): centered clipping (Karimireddy, He, Jaggi: "Learning from History for Byzantine
 * Robust Optimization", ICML 2021; the bucketing step of their "Byzantine-Robust Learning on
 * Heterogeneous Datasets via Bucketing", ICLR 2022, is here too, at BUCKET_SIZE). Each pass a bad
 * update pulls the result by at most τ/n, τ follows the honest updates' spread, and no round moves the
 * result more than τ from its reference, whatever n, one update alone included. The trimmed mean keeps
 * every coordinate inside the honest range, but attackers that agree on a shift inside it (ALIE), or
 * outnumber the values it trims (3 against k = 2 of 10), still steer it.
 */
export const DEFAULT_AGGREGATION: AggregationRule = 'centered-clip';

export const DEFAULT_TRIM_FRACTION = 0.25;
export const DEFAULT_CLIP_FACTOR = 1;

/**
 * Updates averaged per bucket before clipping: 1, no bucketing. The bucketing paper's s = 2 halves the
 * honest spread, but a bad update averaged with an honest partner lands half as far out, so it is
 * clipped only beyond 2τ, and with 30% attackers up to 60% of the buckets hold one. Measured on
 * synthetic rounds like the benchmark's (10 updates, honest noise 0.35–1 × the mean's norm, reference
 * the previous aggregate, 5 shuffles): at 30%, sign-flip, scaled and IPM at the norm bound moved the
 * result by 0.14–0.42 of the honest mean's norm with s = 1 and by 0.17–1.09 with s = 2; at 20%,
 * 0.08–0.23 with s = 1 and 0.06–0.48 with s = 2, depending on the shuffle.
 */
export const BUCKET_SIZE = 1;

/**
 * Clipping passes. The paper's analysis needs one when it starts at the honest mean; from a farther
 * reference (zero in the first round, or an attacked previous aggregate) the later passes, each
 * clipping at the median distance to the current centre, pull the centre into the honest cluster and
 * cut what lies outside it. Measured on synthetic rounds (10 updates, 30% sign-flipped or IPM at the
 * norm bound): from zero the error fell from 0.61–0.63 of the honest mean's norm (one pass at τ) to
 * 0.31–0.32 (3 passes) and 0.24 (5); from the previous aggregate all stayed at 0.17–0.22. Each pass
 * reads every bucket twice.
 */
export const CLIP_ITERATIONS = 5;

/**
 * τ = this × the median distance of recent and current updates to their reference, and each pass
 * clips at this × the median distance to the current centre. One median: about half the honest
 * updates reach it, and the passes re-centre on them, so honest rounds end on their plain mean (0.75
 * moved honest-only rounds by 1–2% of the mean's norm) while anything farther loses weight.
 */
export const CLIP_RADIUS_FACTOR = 1;

/** Fewer known distances (or norms) than this and a median is one attacker's choice: fall back. */
export const MIN_SCALE_SAMPLES = 3;

/**
 * With fewer than MIN_SCALE_SAMPLES distances known (the first round, alone), τ is this fraction of
 * the caller's analytic bound. For the seed's bound 4·H·lr·√P (maxUpdateNorm) that is H·lr·√P: AdamW
 * moving every coordinate by lr each step in one direction; measured honest first-round norms are
 * 0.6–0.7 of it on the benchmark's model and 0.39 on the tiny preset at the seed's settings.
 */
export const COLD_START_RADIUS_FRACTION = 0.25;

/**
 * normBound: admit updates up to this × the median norm of recent accepted ones. Honest norms were
 * within ±25% of their median over volunteers on non-IID shards and over rounds; 3× leaves room for a
 * change of phase between rounds, and what it lets through is clipped by centered-clip anyway.
 */
export const NORM_BOUND_FACTOR = 3;

/**
 * normFloor: refuse updates below this × the median norm of recent accepted ones. An update that
 * small carries no work (a zero update, the free-rider, decodes to norm 0; IPM's −0.1 × the
 * honest mean is a tenth of an honest norm), while honest norms stayed within ±25% of their median:
 * a quarter leaves them a factor of 3.
 */
export const NORM_FLOOR_FACTOR = 0.25;

/**
 * How many recent values (accepted updates' norms, distances to their reference) the caller keeps for
 * normBound, normFloor and clipRadius, newest last: three rounds of the benchmark's 10 volunteers, half
 * a round of a full 64-volunteer roster; enough that the attackers of one small round cannot hold the
 * median, few enough that it follows the norms as training moves on.
 */
export const HISTORY_SAMPLES = 32;

export interface AggregateOptions {
  /** trimmed-mean: k = floor(trimFraction·n), at least 1 when n ≥ 3, 0 below; in [0, 0.5). Default 0.25. */
  trimFraction?: number;
  /** median-norm-clip: each update is scaled down to at most clipFactor × the median L2 norm. Default 1. */
  clipFactor?: number;
  /** centered-clip: where clipping starts, and the centre of the ball the result stays in. Default zero. */
  reference?: Float32Array;
  /** centered-clip: the bucket shuffle's seed (the round number: the same round buckets the same). Default 0. */
  seed?: number;
  /** centered-clip: τ; by default clipRadius(this round's distances, recentDistances, fallbackBound). */
  radius?: number;
  /** centered-clip: accepted updates' distances to their round's reference, recent rounds, newest last. */
  recentDistances?: readonly number[];
  /** centered-clip: the analytic bound on an update's norm (maxUpdateNorm); needed unless radius is given. */
  fallbackBound?: number;
  /** centered-clip: updates per bucket. Default BUCKET_SIZE. */
  bucketSize?: number;
  /** centered-clip: clipping passes. Default CLIP_ITERATIONS. */
  iterations?: number;
}

export interface Aggregated {
  vector: Float32Array;
  /**
   * Each update's weight relative to its 1/n in a plain mean, so 1 is a plain mean's and 0 no say:
   * mean, 1; trimmed mean, the share of coordinates whose kept range holds its value × n/(n − 2k);
   * median-norm-clip, its clip factor; centered-clip, n × its bucket's coefficient in the result over
   * the bucket's size.
   */
  weights: Float64Array;
  /** centered-clip: the radius τ used. */
  radius?: number;
  /** centered-clip: each update's distance to the reference (what the caller keeps as recentDistances). */
  distances?: number[];
}

/** L2 norm, accumulated in float64. */
export function l2Norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/** Median of a non-empty list (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const s = Float64Array.from(values).sort();
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/**
 * The largest norm to admit next round: NORM_BOUND_FACTOR × the median of recent accepted norms, never
 * above `fallback` (the analytic bound), and `fallback` itself until MIN_SCALE_SAMPLES norms are known.
 */
export function normBound(recentNorms: readonly number[], fallback: number): number {
  if (recentNorms.length < MIN_SCALE_SAMPLES) return fallback;
  return Math.min(fallback, NORM_BOUND_FACTOR * median(recentNorms));
}

/**
 * The smallest norm to admit next round: NORM_FLOOR_FACTOR × the median of recent accepted norms, and
 * 0 until MIN_SCALE_SAMPLES norms are known.
 */
export function normFloor(recentNorms: readonly number[]): number {
  return recentNorms.length < MIN_SCALE_SAMPLES ? 0 : NORM_FLOOR_FACTOR * median(recentNorms);
}

/**
 * centered-clip's τ: CLIP_RADIUS_FACTOR × the median of recent and this round's distances to the
 * reference, at most `fallbackBound`; COLD_START_RADIUS_FRACTION × fallbackBound while fewer than
 * MIN_SCALE_SAMPLES distances are known (an update alone in the first round sets nothing itself).
 */
export function clipRadius(
  distances: readonly number[],
  recentDistances: readonly number[],
  fallbackBound: number,
): number {
  const known = [...recentDistances, ...distances];
  if (known.length < MIN_SCALE_SAMPLES) return COLD_START_RADIUS_FRACTION * fallbackBound;
  return Math.min(fallbackBound, CLIP_RADIUS_FACTOR * median(known));
}

/** Values trimmed from each end per coordinate for n updates; never so many that nothing is left. */
export function trimCount(n: number, trimFraction = DEFAULT_TRIM_FRACTION): number {
  if (!(trimFraction >= 0 && trimFraction < 0.5))
    throw new RangeError(`trimFraction must be in [0, 0.5), got ${trimFraction}`);
  if (n < 3) return 0;
  return Math.min(Math.max(1, Math.floor(trimFraction * n)), Math.floor((n - 1) / 2));
}

export function aggregate(updates: Float32Array[], rule: AggregationRule, opts: AggregateOptions = {}): Float32Array {
  return aggregateWithWeights(updates, rule, opts).vector;
}

/**
 * aggregate, and how much say each update had in the result (for logs, trust and the benchmark):
 * the updates are bucketed (bucketMeans: centered-clip's bucketSize, one per bucket for the other
 * rules) and the rule runs across the buckets (aggregateBuckets).
 */
export function aggregateWithWeights(
  updates: Float32Array[],
  rule: AggregationRule,
  opts: AggregateOptions = {},
): Aggregated {
  const first = updates[0];
  if (first === undefined) throw new RangeError('aggregate needs at least one update');
  const length = first.length;
  for (const [k, u] of updates.entries()) {
    if (u.length !== length) throw new RangeError(`update ${k} has ${u.length} floats, update 0 has ${length}`);
  }
  let radius: number | undefined;
  let distances: number[] | undefined;
  if (rule === 'centered-clip') {
    const { reference } = opts;
    if (reference && reference.length !== length)
      throw new RangeError(`reference has ${reference.length} floats, the updates ${length}`);
    distances = updates.map((u) => distance(u, reference));
    radius = opts.radius;
    if (radius === undefined) {
      if (opts.fallbackBound === undefined)
        throw new RangeError('centered-clip needs a radius, or a fallbackBound to derive one from');
      radius = clipRadius(distances, opts.recentDistances ?? [], opts.fallbackBound);
    }
  }
  const buckets = bucketMeans(updates, rule === 'centered-clip' ? (opts.bucketSize ?? BUCKET_SIZE) : 1, opts.seed ?? 0);
  const { vector, coefficients } = drain(aggregateBuckets(buckets, rule, { ...opts, radius }));
  return { vector, weights: updateWeights(buckets, coefficients), radius, distances };
}

/**
 * Each update's weight relative to its 1/n in a plain mean (Aggregated.weights), from its bucket's
 * coefficient in the result: n × the coefficient over the bucket's size.
 */
export function updateWeights(buckets: readonly Bucket[], coefficients: Float64Array): Float64Array {
  const n = buckets.reduce((s, b) => s + b.members.length, 0);
  const weights = new Float64Array(n);
  for (const [j, b] of buckets.entries())
    for (const k of b.members) weights[k] = (n * coefficients[j]!) / b.members.length;
  return weights;
}

/** What a rule across buckets returns: the result, and each bucket's coefficient in it (see aggregateBuckets). */
export interface BucketsAggregated {
  vector: Float32Array;
  coefficients: Float64Array;
}

/**
 * A robust rule across buckets (each the mean of some updates: bucketMeans, or the seed's streaming
 * buckets), as a generator that yields after each slice of work (about one pass over one bucket), so
 * the seed can aggregate between other events (drainInSlices) and everything else at once (drain).
 * With one update per bucket each rule is its textbook self over the updates. Coefficients c_j:
 * mean and median-norm-clip, result = Σ c_j·b_j with c_j = size_j/n (× the clip factor);
 * trimmed-mean over the buckets' values, c_j = the share of coordinates whose kept range holds b_j
 * over (buckets − 2k); centered-clip, result = (1 − Σ c_j)·reference + Σ c_j·b_j (centeredClip).
 */
export function* aggregateBuckets(
  buckets: readonly Bucket[],
  rule: AggregationRule,
  opts: Pick<AggregateOptions, 'trimFraction' | 'clipFactor' | 'reference' | 'radius' | 'iterations'> = {},
): Generator<void, BucketsAggregated> {
  if (buckets.length === 0) throw new RangeError('aggregate needs at least one update');
  const n = buckets.reduce((s, b) => s + b.members.length, 0);
  const sizes = () => Float64Array.from(buckets, (b) => b.members.length / n);
  switch (rule) {
    case 'mean': {
      const coefficients = sizes();
      return { vector: yield* weightedSum(buckets, coefficients), coefficients };
    }
    case 'trimmed-mean':
      return yield* trimmedMean(buckets, trimCount(buckets.length, opts.trimFraction));
    case 'median-norm-clip':
      return yield* medianNormClip(buckets, opts.clipFactor ?? DEFAULT_CLIP_FACTOR);
    case 'centered-clip': {
      if (opts.radius === undefined) throw new RangeError('centered-clip needs a radius');
      return yield* centeredClipSteps(buckets, opts.reference, opts.radius, opts.iterations ?? CLIP_ITERATIONS);
    }
    default:
      throw new RangeError(`unknown aggregation rule ${String(rule satisfies never)}`);
  }
}

/** Runs a generator of aggregate.ts to its end at once. */
export function drain<T>(steps: Generator<void, T>): T {
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/** How long drainInSlices runs before it gives the event loop a turn. */
export const AGGREGATION_SLICE_MS = 20;

/** Runs a generator of aggregate.ts to its end, giving the event loop a turn every AGGREGATION_SLICE_MS. */
export async function drainInSlices<T>(steps: Generator<void, T>): Promise<T> {
  let sliceStart = performance.now();
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    if (performance.now() - sliceStart >= AGGREGATION_SLICE_MS) {
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
      sliceStart = performance.now();
    }
  }
}

/** Σ c_j·b_j in float64, rounded once to f32; yields after each bucket. */
function* weightedSum(buckets: readonly Bucket[], coefficients: Float64Array): Generator<void, Float32Array> {
  const length = buckets[0]!.mean.length;
  const sum = new Float64Array(length);
  for (const [j, { mean }] of buckets.entries()) {
    const c = coefficients[j]!;
    if (c === 0) continue;
    for (let i = 0; i < length; i++) sum[i]! += c * mean[i]!;
    yield;
  }
  return Float32Array.from(sum);
}

/** Coordinates trimmedMean sorts between two yields. */
const TRIM_SLICE = 4096;

function* trimmedMean(buckets: readonly Bucket[], k: number): Generator<void, BucketsAggregated> {
  const m = buckets.length;
  const n = buckets.reduce((s, b) => s + b.members.length, 0);
  if (k === 0) {
    const coefficients = Float64Array.from(buckets, (b) => b.members.length / n);
    return { vector: yield* weightedSum(buckets, coefficients), coefficients };
  }
  const length = buckets[0]!.mean.length;
  const out = new Float32Array(length);
  const scratch = new Float64Array(m);
  const kept = new Float64Array(m); // per bucket, coordinates whose kept range holds its value
  const keep = m - 2 * k;
  for (let i = 0; i < length; i++) {
    // Insertion sort of m values: for the handful of buckets a small round has, faster than anything
    // general; past 32 the built-in numeric sort of the typed array takes over.
    if (m <= 32) {
      for (let a = 0; a < m; a++) {
        const x = buckets[a]!.mean[i]!;
        let b = a - 1;
        while (b >= 0 && scratch[b]! > x) {
          scratch[b + 1] = scratch[b]!;
          b--;
        }
        scratch[b + 1] = x;
      }
    } else {
      for (let a = 0; a < m; a++) scratch[a] = buckets[a]!.mean[i]!;
      scratch.sort();
    }
    let s = 0;
    for (let a = k; a < m - k; a++) s += scratch[a]!;
    out[i] = s / keep;
    const low = scratch[k]!;
    const high = scratch[m - k - 1]!;
    for (let a = 0; a < m; a++) {
      const x = buckets[a]!.mean[i]!;
      if (x >= low && x <= high) kept[a]!++;
    }
    if (i % TRIM_SLICE === TRIM_SLICE - 1) yield;
  }
  return { vector: out, coefficients: kept.map((c) => c / length / keep) };
}

/** Median of the buckets' norms (the mean of the two middle ones for an even count), then a clipped mean. */
function* medianNormClip(buckets: readonly Bucket[], clipFactor: number): Generator<void, BucketsAggregated> {
  if (!(clipFactor > 0 && Number.isFinite(clipFactor)))
    throw new RangeError(`clipFactor must be positive and finite, got ${clipFactor}`);
  const n = buckets.reduce((s, b) => s + b.members.length, 0);
  const norms = buckets.map((b) => l2Norm(b.mean));
  const limit = clipFactor * median(norms);
  const coefficients = Float64Array.from(
    norms,
    (norm, j) => (buckets[j]!.members.length / n) * (norm > limit ? limit / norm : 1),
  );
  return { vector: yield* weightedSum(buckets, coefficients), coefficients };
}

/** A bucket: the mean of some updates (float64 sums rounded once), and which updates (by index). */
export interface Bucket {
  mean: Float32Array;
  members: number[];
}

/**
 * The bucketing step, separate from clipping: the updates in an order shuffled by `seed`
 * (Fisher–Yates on createRandom), then each run of `bucketSize` averaged (the last bucket holds the
 * remainder). A bucket of one is the update itself, not a copy.
 */
export function bucketMeans(updates: Float32Array[], bucketSize: number, seed: number): Bucket[] {
  if (!(Number.isInteger(bucketSize) && bucketSize >= 1))
    throw new RangeError(`bucketSize must be a positive integer, got ${bucketSize}`);
  const order = updates.map((_, k) => k);
  const random = createRandom(seed);
  for (let a = order.length - 1; a > 0; a--) {
    const b = Math.floor(random() * (a + 1));
    [order[a], order[b]] = [order[b]!, order[a]!];
  }
  const buckets: Bucket[] = [];
  for (let start = 0; start < order.length; start += bucketSize) {
    const members = order.slice(start, start + bucketSize);
    const mean =
      members.length === 1
        ? updates[members[0]!]!
        : drain(
            weightedSum(
              members.map((k) => ({ mean: updates[k]!, members: [k] })),
              new Float64Array(members.length).fill(1 / members.length),
            ),
          );
    buckets.push({ mean, members });
  }
  return buckets;
}

/** ‖a − b‖ in float64; `b` absent means zero. */
export function distance(a: Float32Array | Float64Array, b: Float32Array | Float64Array | undefined): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - (b ? b[i]! : 0);
    s += d * d;
  }
  return Math.sqrt(s);
}

/**
 * Centered clipping of the buckets around `reference` (zero when absent) within radius τ: from
 * v = reference, `iterations` times v ← v + Σ_j w_j·clip(b_j − v, τ_l), with clip(x, τ) =
 * x·min(1, τ/‖x‖), w_j the bucket's share of the updates (with nothing clipped, one pass lands on the
 * plain mean) and τ_l = min(τ, CLIP_RADIUS_FACTOR × the median distance of the buckets to v) from
 * MIN_SCALE_SAMPLES buckets on, τ below; then v is pulled back into the ball of radius τ around the
 * reference if it left it. Returns v and each bucket's coefficient in it
 * (v = (1 − Σ c_j)·reference + Σ c_j·b_j).
 */
export function centeredClip(
  buckets: readonly Bucket[],
  reference: Float32Array | undefined,
  radius: number,
  iterations: number,
): BucketsAggregated {
  return drain(centeredClipSteps(buckets, reference, radius, iterations));
}

/** centeredClip, yielding after each bucket's share of a pass. */
function* centeredClipSteps(
  buckets: readonly Bucket[],
  reference: Float32Array | undefined,
  radius: number,
  iterations: number,
): Generator<void, BucketsAggregated> {
  if (!(radius >= 0 && Number.isFinite(radius))) throw new RangeError(`radius must be finite and ≥ 0, got ${radius}`);
  if (!(Number.isInteger(iterations) && iterations >= 1))
    throw new RangeError(`iterations must be a positive integer, got ${iterations}`);
  const n = buckets.reduce((s, b) => s + b.members.length, 0);
  const shares = buckets.map((b) => b.members.length / n);
  const length = buckets[0]!.mean.length;
  const v = reference ? Float64Array.from(reference) : new Float64Array(length);
  const sum = new Float64Array(length);
  const coefficients = new Float64Array(buckets.length);
  for (let it = 0; it < iterations; it++) {
    // This pass clips at the buckets' median distance to the current centre (the honest spread once
    // v sits among the honest updates), never beyond τ; with too few buckets for a median, at τ.
    const distances: number[] = [];
    for (const { mean } of buckets) {
      distances.push(distance(mean, v));
      yield;
    }
    const clip =
      buckets.length >= MIN_SCALE_SAMPLES ? Math.min(radius, CLIP_RADIUS_FACTOR * median(distances)) : radius;
    const w = distances.map((d, j) => shares[j]! * (d <= clip ? 1 : clip / d));
    // One step against the same v for every bucket: v ← (1 − Σ_j w_j)·v + Σ_j w_j·b_j.
    const keep = 1 - w.reduce((s, x) => s + x, 0);
    sum.fill(0);
    for (const [j, { mean }] of buckets.entries()) {
      const c = w[j]!;
      if (c === 0) continue;
      for (let i = 0; i < length; i++) sum[i]! += c * mean[i]!;
      yield;
    }
    for (let i = 0; i < length; i++) v[i] = keep * v[i]! + sum[i]!;
    for (let j = 0; j < buckets.length; j++) coefficients[j] = keep * coefficients[j]! + w[j]!;
  }
  // Several passes can walk up to iterations·τ: keep the round's move within τ of the reference.
  const moved = distance(v, reference);
  if (moved > radius) {
    const scale = radius / moved;
    for (let i = 0; i < length; i++) {
      const r = reference ? reference[i]! : 0;
      v[i] = r + scale * (v[i]! - r);
    }
    for (let j = 0; j < buckets.length; j++) coefficients[j]! *= scale;
  }
  return { vector: Float32Array.from(v), coefficients };
}
