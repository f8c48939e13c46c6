// A tab's check of a round before it downloads or trains anything: every setting within the tab's
// bounds (limits.ts), the model within what our kernels run and what every adapter a tab trains on
// holds, the update within what the seed takes. A round past one is refused, naming the field, its
// value and the bound: its seed is misconfigured or hostile.
import { encodedSize, MAX_UPDATE_BYTES, type RoundManifest } from '../fed';
import { checkKernelLimits, trainingGpuNeeds } from '../model';
import { ManifestError, type VerifiedManifest, verifyManifest, type WeightsManifest } from '../swarm';
import { REQUIRED_LIMITS } from './gpu-probe';
import {
  MAX_MODEL_LAYERS,
  MAX_ROUND_AHEAD_MS,
  MAX_ROUND_BATCH_SIZE,
  MAX_ROUND_DATA_SEED,
  MAX_ROUND_LR,
  MAX_ROUND_MAX_NORM,
  MAX_ROUND_SHARDS,
  MAX_ROUND_STEPS,
  MAX_ROUND_WEIGHT_DECAY,
  MAX_TRAINING_GPU_BYTES,
} from './limits';

/** The tab will not train this round; `reason` names the field, its value and the bound. */
export class RoundRefusedError extends Error {
  override name = 'RoundRefusedError';
  constructor(
    readonly round: number,
    readonly reason: string,
  ) {
    super(`round ${round} refused: ${reason}`);
  }
}

/**
 * Throws RoundRefusedError at the first setting of `round` (or of its model) past the tab's bounds.
 * `weights` is the round's weights manifest, `now` the tab's time (ms since the epoch).
 */
export function checkRound(round: RoundManifest, weights: WeightsManifest, now: number): void {
  const h = round.hyper;
  const model = weights.model;
  try {
    checkKernelLimits(model);
  } catch (e) {
    throw new RoundRefusedError(round.round, (e as Error).message);
  }
  const gpu = trainingGpuNeeds(model, { B: h.batchSize, T: h.context });
  /** [field, value, bound, what the bound is when it is not one of the tab's own limits] */
  const bounds: [string, number, number, string?][] = [
    ['hyper.steps', h.steps, MAX_ROUND_STEPS],
    ['hyper.batchSize', h.batchSize, MAX_ROUND_BATCH_SIZE],
    ['hyper.context', h.context, model.context, "the model's context"],
    ['hyper.lr', h.lr, MAX_ROUND_LR],
    ['hyper.weightDecay', h.weightDecay, MAX_ROUND_WEIGHT_DECAY],
    ['hyper.dataSeed', h.dataSeed, MAX_ROUND_DATA_SEED],
    ['shardCount', round.shardCount, MAX_ROUND_SHARDS],
    ['maxNorm', round.maxNorm, MAX_ROUND_MAX_NORM],
    ['deadline (ms from now)', round.deadline - now, MAX_ROUND_AHEAD_MS],
    ['model.layers', model.layers, MAX_MODEL_LAYERS],
    [
      `GPU buffer of the ${gpu.largestBuffer.holds} (bytes)`,
      gpu.largestBuffer.bytes,
      REQUIRED_LIMITS.maxStorageBufferBindingSize,
      'the storage binding every adapter a tab trains on has',
    ],
    ['GPU memory of training (bytes)', gpu.totalBytes, MAX_TRAINING_GPU_BYTES],
    [
      'encoded update (bytes)',
      encodedSize(weights.totalBytes / 4, round.codec),
      MAX_UPDATE_BYTES,
      'the largest update the seed takes',
    ],
  ];
  for (const [field, value, bound, what] of bounds) {
    if (!(value <= bound))
      throw new RoundRefusedError(
        round.round,
        `${field} is ${value}, over the bound of ${bound}${what ? ` (${what})` : ''}`,
      );
  }
}

/**
 * The round's weights manifest, verified against the seed, if the tab takes the round on; otherwise
 * throws RoundRefusedError (a weights manifest past the swarm's bounds, such as MAX_MODEL_BYTES, too).
 */
export async function admitRound(round: RoundManifest, seed: string, now: number): Promise<VerifiedManifest> {
  let weights: VerifiedManifest;
  try {
    weights = await verifyManifest(round.weights, seed);
  } catch (e) {
    if (e instanceof ManifestError) throw new RoundRefusedError(round.round, e.message);
    throw e;
  }
  checkRound(round, weights.value, now);
  return weights;
}
