// What the seed carries from round to round for its robust rules: the last aggregate (centered
// clipping's reference) and the recent accepted updates' norms and distances to their reference.
// Each round's admission bounds (normFloor ≤ ‖Δ‖ ≤ normBound) and clipping radius follow from them
// (aggregate.ts). Pure: the coordinator and the Byzantine benchmark keep the state and pass it in.
// Norms and distances are kept at the run's base inner lr: a round whose scheduled lr is `scale` times
// it (schedule.ts) admits and clips at `scale` times them, and its own are kept divided by `scale`.
import {
  type Aggregated,
  type AggregationRule,
  aggregateBuckets,
  aggregateWithWeights,
  type Bucket,
  clipRadius,
  drainInSlices,
  HISTORY_SAMPLES,
  l2Norm,
  normBound,
  normFloor,
} from './aggregate';

export interface DefenseState {
  /** The last round's aggregate; undefined before the first (centered clipping then starts at zero). */
  reference?: Float32Array;
  /** Accepted updates' L2 norms, newest last, at most HISTORY_SAMPLES. */
  recentNorms: number[];
  /** Accepted updates' distances to their round's reference, newest last, at most HISTORY_SAMPLES. */
  recentDistances: number[];
}

export const freshDefense = (): DefenseState => ({ recentNorms: [], recentDistances: [] });

/**
 * The norms a round admits: normFloor and normBound of the recent accepted ones, at the round's lr
 * `scale` (its lr over the run's base lr), the bound at most `analyticBound`.
 */
export function admissionBounds(d: DefenseState, analyticBound: number, scale = 1): { floor: number; bound: number } {
  return { floor: scale * normFloor(d.recentNorms), bound: scale * normBound(d.recentNorms, analyticBound / scale) };
}

/**
 * Aggregates a round's accepted updates with `rule` from the defense state (centered clipping from
 * its reference, τ from its distances); returns the result and the state for the next round.
 */
export function aggregateRound(
  updates: Float32Array[],
  rule: AggregationRule,
  d: DefenseState,
  round: { round: number; analyticBound: number },
): { aggregated: Aggregated; next: DefenseState } {
  const aggregated = aggregateWithWeights(updates, rule, {
    reference: d.reference,
    seed: round.round,
    recentDistances: d.recentDistances,
    fallbackBound: round.analyticBound,
  });
  return {
    aggregated,
    next: advance(d, aggregated.vector, updates.map(l2Norm), aggregated.distances),
  };
}

/**
 * aggregateRound for the seed's streaming buckets (buckets.ts): the rule runs across `buckets`, and
 * the accepted updates' norms and distances to `d.reference` were measured as they arrived, in a round
 * whose lr is `round.scale` times the run's base lr. Runs in slices between other events (drainInSlices).
 */
export async function aggregateStreamedRound(
  buckets: readonly Bucket[],
  accepted: { norms: number[]; distances: number[] },
  rule: AggregationRule,
  d: DefenseState,
  round: { analyticBound: number; scale?: number },
): Promise<{ vector: Float32Array; next: DefenseState }> {
  const scale = round.scale ?? 1;
  const centered = rule === 'centered-clip';
  const recent = d.recentDistances.map((x) => x * scale);
  const radius = centered ? clipRadius(accepted.distances, recent, round.analyticBound) : undefined;
  const { vector } = await drainInSlices(aggregateBuckets(buckets, rule, { reference: d.reference, radius }));
  const atBase = (xs: number[]) => xs.map((x) => x / scale);
  return {
    vector,
    next: advance(d, vector, atBase(accepted.norms), centered ? atBase(accepted.distances) : undefined),
  };
}

/** The state after a round: its aggregate the next reference, its accepted norms (and distances, for centered-clip) the newest. */
function advance(
  d: DefenseState,
  vector: Float32Array,
  norms: number[],
  distances: number[] | undefined,
): DefenseState {
  const keep = (old: number[], added: number[]) => [...old, ...added].slice(-HISTORY_SAMPLES);
  return {
    reference: vector,
    recentNorms: keep(d.recentNorms, norms),
    recentDistances: distances ? keep(d.recentDistances, distances) : d.recentDistances,
  };
}
