// A tab's check of a round before it downloads or trains anything: every setting within the tab's
// bounds (limits.ts), the model within what our kernels run and what every adapter a tab trains on
// holds, the update within what the seed takes. A round past one is refused, naming the field, its
// value and the bound: its seed is misconfigured or hostile.
import { encodedSize, MAX_UPDATE_BYTES, type RoundManifest } from '../fed';
import { checkKernelLimits, type GptConfig, paramLayout, trainingGpuNeeds } from '../model';
import { MAX_MODEL_BYTES, ManifestError, type VerifiedManifest, verifyManifest, type WeightsManifest } from '../swarm';
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
  const problem =
    roundShapeProblem(weights.model, round, weights.totalBytes / 4) ??
    boundsProblem([
      ['maxNorm', round.maxNorm, MAX_ROUND_MAX_NORM],
      ['deadline (ms from now)', round.deadline - now, MAX_ROUND_AHEAD_MS],
    ]);
  if (problem) throw new RoundRefusedError(round.round, problem);
}

/** What fixes the work of every round of a run: its model, and these settings of its rounds. */
export type RoundShape = Pick<RoundManifest, 'hyper' | 'shardCount' | 'codec'>;

/**
 * Why a tab would refuse every round of this shape (the first setting past its bounds: the field,
 * its value and the bound), or undefined when a tab can train it. The seed asks this at start, so
 * that a run no tab can train is refused there, with the reason.
 */
export function roundShapeProblem(
  model: GptConfig,
  shape: RoundShape,
  /** The weight vector's floats: the model's, or what a round's weights manifest says. */
  parameters = paramLayout(model).total,
): string | undefined {
  const h = shape.hyper;
  try {
    checkKernelLimits(model);
  } catch (e) {
    return (e as Error).message;
  }
  const gpu = trainingGpuNeeds(model, { B: h.batchSize, T: h.context });
  return boundsProblem([
    ['hyper.steps', h.steps, MAX_ROUND_STEPS],
    ['hyper.batchSize', h.batchSize, MAX_ROUND_BATCH_SIZE],
    ['hyper.context', h.context, model.context, "the model's context"],
    ['hyper.lr', h.lr, MAX_ROUND_LR],
    ['hyper.weightDecay', h.weightDecay, MAX_ROUND_WEIGHT_DECAY],
    ['hyper.dataSeed', h.dataSeed, MAX_ROUND_DATA_SEED],
    ['shardCount', shape.shardCount, MAX_ROUND_SHARDS],
    ['model.layers', model.layers, MAX_MODEL_LAYERS],
    ['model weights (bytes)', 4 * parameters, MAX_MODEL_BYTES, 'the largest a tab assembles'],
    [
      `GPU buffer of the ${gpu.largestBuffer.holds} (bytes)`,
      gpu.largestBuffer.bytes,
      REQUIRED_LIMITS.maxStorageBufferBindingSize,
      'the storage binding every adapter a tab trains on has',
    ],
    ['GPU memory of training (bytes)', gpu.totalBytes, MAX_TRAINING_GPU_BYTES],
    [
      'encoded update (bytes)',
      encodedSize(parameters, shape.codec),
      MAX_UPDATE_BYTES,
      'the largest update the seed takes',
    ],
  ]);
}

/** [field, value, bound, what the bound is when it is not one of the tab's own limits] */
type Bound = [string, number, number, string?];

function boundsProblem(bounds: Bound[]): string | undefined {
  for (const [field, value, bound, what] of bounds)
    if (!(value <= bound)) return `${field} is ${value}, over the bound of ${bound}${what ? ` (${what})` : ''}`;
  return undefined;
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
