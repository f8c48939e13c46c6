// Verification of a round's work, on the seed. A volunteer's batches are a pure function of (data
// seed, shard, step), so the seed knows exactly what each one was asked to do and can check it:
//
//   - lossFilter, every update: applied to the round's start weights, it must lower the loss on the
//     volunteer's own assigned batches, one or two drawn after the update arrived. Two forward passes each.
//   - nearDuplicates, every round: an update that nearly duplicates another one is flagged (the seed
//     compares the updates' count sketches: sketch.ts).
//   - reexecute, a sample: the volunteer's H steps recomputed by a trainer (the CPU reference) from
//     the same weights and batches, and compared within a tolerance measured on a GPU.
//   - checkProbability: how often a volunteer is re-executed; it falls as its verified rounds add up,
//     as in BOINC's adaptive replication.
//   - creditedTokens: what an accepted update earns: its assignment's tokens, never a claimed count.
//
// verifyRound composes them into the one call a round needs. Everything here is pure: the seed's
// state (each volunteer's verified streak) comes in and goes out, and the trainer that re-executes
// and the randomness that samples are injected. Every check returns the compute it spent in nominal
// FLOPs (src/model/flops.ts), the unit of a volunteer's round (roundFlops), so the verification
// overhead is the checks' FLOPs over the volunteers'.
//
// Sign convention (src/fed/outer.ts): an update is Δ = start − end weights, so applying it is start − Δ.

import type { Batch, TokenDataset } from '../data';
import { gptForwardCpu, nominalTrainFlops, type ParamLayout } from '../model';
// The interface only: no trainer implementation is imported here (the CPU one imports src/fed).
import type { Trainer, TrainRequest } from '../trainer/trainer';
import { l2Norm, median } from './aggregate';
import { decodeUpdate, quantMax, roundingOf } from './codec';
import type { CodecSettings, RoundManifest } from './documents';
import type { Sketcher } from './sketch';

/** The parts of a round manifest verification reads. */
export type RoundTerms = Pick<RoundManifest, 'round' | 'hyper' | 'shardCount' | 'assignments' | 'codec'>;

/** A round as the verifier sees it. */
export interface RoundWork {
  layout: ParamLayout;
  manifest: RoundTerms;
  /** The round's start weights: the vector its weights manifest names. */
  start: Float32Array;
  /** The run's token files, from which every assignment's batches are drawn. */
  dataset: TokenDataset;
  /**
   * The sketches (sketch.ts) of the last round's accepted updates, if kept, by the same sketcher as
   * the round's: an update that replays one of them is rejected.
   */
  earlier?: ReadonlyMap<string, Float32Array>;
  /** AdamW's second moment the round named (second-moment.ts): every re-execution starts from it. */
  secondMoment?: Uint8Array;
}

/**
 * A round's updates as verification reads them: each one's sketch, for duplicates, and the update
 * itself loaded only while a check needs it (the seed's are in its spool, not on the heap).
 */
export interface RoundUpdates {
  peers: readonly string[];
  sketch(peer: string): Float32Array;
  load(peer: string): Promise<Float32Array>;
}

/** Updates held in memory, as RoundUpdates, sketched by `sketch` (the same as work.earlier's). */
export function inMemoryUpdates(updates: ReadonlyMap<string, Float32Array>, sketch: Sketcher): RoundUpdates {
  const sketches = new Map([...updates].map(([peer, u]) => [peer, sketch(u)]));
  const get = <T>(map: ReadonlyMap<string, T>, peer: string): T => {
    const value = map.get(peer);
    if (value === undefined) throw new RangeError(`no update of ${peer} in this round`);
    return value;
  };
  return {
    peers: [...updates.keys()],
    sketch: (peer) => get(sketches, peer),
    load: async (peer) => get(updates, peer),
  };
}

// --- Limits. The figures are from measured rounds: the tiny model on the seed's corpus (8 volunteers,
// B=1, T=32, H=20, rounds 0–5; and 6 at the seed's round shape, B=4, T=64, rounds 0–3), and the smaller
// model of test/unit/fed-verify.spec.ts (vocab 256, width 32, B=4, T=32, H=10).

/**
 * Assigned batches the loss filter evaluates per update, at most: one, and a second only when the
 * first did not fall by the margin (the decision is then on their mean). A training step costs about
 * three forward passes, so a batch's two forwards cost 2/(3H) of the volunteer's round: 3.3% at the
 * default H = 20, which leaves room for re-execution under a 10% overhead.
 */
export const LOSS_FILTER_MAX_BATCHES = 2;
/**
 * Nats by which the mean loss on the sampled batches must fall. A zero update moves nothing and fails
 * at any positive margin. Honest updates lowered their own batches by 0.2–1.3 nats on average, but
 * single batches vary: after round 0, none fell by less than this at the seed's round shape, while
 * 7% did in the unit tests' rounds and up to 12% with one-row batches; in round 0, from random
 * weights, two of six updates at the seed's shape had a loss spike on their last step and raised
 * their own loss on half their batches. Hence the second batch, and a re-execution rather than a
 * rejection for a volunteer with verified rounds whose update still fails.
 */
export const LOSS_FILTER_MARGIN = 0.01;
/**
 * Cosine similarity below which two updates are never near duplicates. Honest updates of different
 * shards in one round measured 0.04–0.80 at the seed's shapes (tiny model; 0.34–0.70 at its round
 * shape) and up to 0.89 on the smaller model, whose shards share more. But honest updates can be
 * closer than this: in the Byzantine benchmark's rounds (lr 5e-4, H = 20), where every volunteer is
 * still learning the same letter frequencies, they measured 0.93–0.955. Hence DUPLICATE_GAP_FRACTION.
 */
export const DUPLICATE_COSINE = 0.95;
/**
 * A pair is a near duplicate only when its gap 1 − cosine is at most this fraction of the round's
 * typical gap (the median over its pairs; 1 − DUPLICATE_COSINE with fewer than 3 pairs). The closest
 * honest pair of a round measured 0.65–0.79 of the median gap; a copy with noise of 1% of its norm
 * has a gap of 5e-5. A copier must add noise of about a fifth of the norm to pass (which the filter
 * and re-execution then face like any update of its own), and colluders cannot shrink the median
 * below the honest pairs' without a majority of the round.
 */
export const DUPLICATE_GAP_FRACTION = 0.25;
/**
 * Re-execution probability once trust is earned. A new identity is always re-executed, and the
 * probability halves with each verified round down to this floor (after six): checking a trusted
 * volunteer costs the seed 1.6% of that volunteer's compute, which with the loss filter (3.3% at
 * H = 20) leaves most of a 10% verification budget for catching the ones that turn bad. Such a one is
 * caught in 1/64 of its rounds it passes the filter, suspended for SUSPENSION_ROUNDS (roster.ts), and
 * must then earn six verified rounds again, each re-executed with probability 1, 1/2, … 1/32.
 */
export const CHECK_FLOOR = 1 / 64;
/**
 * Relative L2 distance ‖Δ_gpu − Δ_cpu‖ / ‖Δ_cpu‖ between the GPU trainer's and the CPU reference's
 * pseudo-gradients over a round of the tiny model from the same weights on the same batches,
 * measured on SwiftShader by test/browser/verify-divergence.spec.ts. At the default round (H = 64
 * steps of 1 × 64 tokens): 2.0–2.2e-5 after one step, 1.3–1.4e-5 after 10, 6.3–7.8e-5 after 64 over
 * runs and kernel variants (with one row a step it grows over a long round; at H = 20 steps of
 * 4 × 64 it stayed near 1e-5). Rounded up.
 */
export const MEASURED_GPU_CPU_DIVERGENCE = 8e-5;
/**
 * The re-execution tolerance on that distance: 10× the measured figure, since real GPUs (fused
 * multiply-adds, their own exp and tanh) may drift further than SwiftShader. Far below what the
 * codecs honestly add (codecErrorBound: 1.3–1.5% of the norm at int8 in our rounds, some 18× that at
 * int4), so it gives an attacker nothing.
 */
export const GPU_CPU_TOLERANCE = 10 * MEASURED_GPU_CPU_DIVERGENCE;

// --- Work and credit.

/** Tokens an accepted update of `peer` earns: its assignment's steps × batchSize × context; 0 if unassigned. */
export function creditedTokens(manifest: Pick<RoundManifest, 'hyper' | 'assignments'>, peer: string): number {
  if (!Object.hasOwn(manifest.assignments, peer)) return 0;
  const { steps, batchSize, context } = manifest.hyper;
  return steps * batchSize * context;
}

/** Nominal FLOPs of one volunteer's round: H training steps of the assigned shape. */
export function roundFlops(work: Pick<RoundWork, 'layout' | 'manifest'>): number {
  const { steps, batchSize, context } = work.manifest.hyper;
  return nominalTrainFlops(work.layout, context, steps * batchSize * context);
}

function shardOf(manifest: RoundTerms, peer: string): number {
  if (!Object.hasOwn(manifest.assignments, peer))
    throw new RangeError(`${peer} has no assignment in round ${manifest.round}`);
  return manifest.assignments[peer]!;
}

/** The batch of local step `step` (0 ≤ step < H) of an assignment, as the volunteer's trainer draws it. */
export function assignedBatch(work: Pick<RoundWork, 'manifest' | 'dataset'>, shard: number, step: number): Batch {
  const { round, hyper, shardCount } = work.manifest;
  return work.dataset.batch('train', {
    batchSize: hyper.batchSize,
    context: hyper.context,
    seed: hyper.dataSeed,
    shard,
    shardCount,
    step: round * hyper.steps + step,
  });
}

/**
 * The train request a volunteer's trainer gets for its assignment (src/tab/participant.ts asks for
 * the same): the round's H steps and inner hyper-parameters, from its shard's first batch of the round.
 */
export function assignmentRequest(
  manifest: RoundTerms,
  shard: number,
  codec = manifest.codec,
  secondMoment?: Uint8Array,
): TrainRequest {
  const { round, hyper, shardCount } = manifest;
  return {
    ...(secondMoment ? { secondMoment } : {}),
    steps: hyper.steps,
    hyper: { lr: hyper.lr, weightDecay: hyper.weightDecay, warmupSteps: hyper.warmupSteps },
    seed: hyper.dataSeed,
    shard,
    shardCount,
    firstStep: round * hyper.steps,
    codec,
  };
}

// --- The loss filter.

export interface LossCheck {
  passed: boolean;
  /** The local steps whose batches were evaluated, in the order drawn. */
  steps: number[];
  /** Mean loss on those batches at the start weights, and with the update applied. */
  before: number;
  after: number;
  /** before − after: how far the update lowered the loss. */
  drop: number;
  flops: number;
}

export interface LossFilterOptions {
  /** Uniform in [0, 1): draws which batches are evaluated, after the update arrived. */
  random: () => number;
  /** At most this many of the H batches (distinct); default LOSS_FILTER_MAX_BATCHES. */
  maxBatches?: number;
}

/** `count` distinct integers of [0, n) in a uniformly random order, drawn with `random`. */
function sampleDistinct(n: number, count: number, random: () => number): number[] {
  if (!Number.isInteger(count) || count < 1 || count > n)
    throw new RangeError(`cannot sample ${count} of ${n} batches`);
  const pool = Array.from({ length: n }, (_, i) => i);
  // A partial Fisher–Yates shuffle: the first `count` entries are a uniform sample, in random order.
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (n - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count);
}

/**
 * The cheap first check: `peer`'s update, applied to the start weights (start − update), must lower
 * the mean loss on batches of its own assignment by LOSS_FILTER_MARGIN. Batches are evaluated one at
 * a time, in a random order drawn after the update arrived, until the mean has fallen by the margin
 * or `maxBatches` were seen. Random, zero, sign-flipped and scaled-up (×4) updates do not lower it
 * once training is past its first fast descent; stale ones mostly not (a replay of an update the seed
 * accepted last round is caught for certain by nearDuplicates against work.earlier).
 */
export function lossFilter(work: RoundWork, peer: string, update: Float32Array, opts: LossFilterOptions): LossCheck {
  const { layout, manifest, start } = work;
  if (update.length !== start.length)
    throw new RangeError(`update has ${update.length} floats, the weights ${start.length}`);
  const shard = shardOf(manifest, peer);
  const { steps: H, batchSize: B, context: T } = manifest.hyper;
  const order = sampleDistinct(H, Math.min(H, opts.maxBatches ?? LOSS_FILTER_MAX_BATCHES), opts.random);
  const applied = new Float32Array(start.length);
  for (let i = 0; i < applied.length; i++) applied[i] = start[i]! - update[i]!;
  const steps: number[] = [];
  let before = 0;
  let after = 0;
  for (const step of order) {
    const { inputs, targets } = assignedBatch(work, shard, step);
    before += gptForwardCpu(layout, start, inputs, targets, B, T).loss!;
    after += gptForwardCpu(layout, applied, inputs, targets, B, T).loss!;
    steps.push(step);
    if ((before - after) / steps.length >= LOSS_FILTER_MARGIN) break;
  }
  const drop = (before - after) / steps.length;
  // A forward pass is a third of a training step's nominal FLOPs; two per batch.
  const flops = (2 / 3) * nominalTrainFlops(layout, T, steps.length * B * T);
  return {
    passed: drop >= LOSS_FILTER_MARGIN,
    steps,
    before: before / steps.length,
    after: after / steps.length,
    drop,
    flops,
  };
}

// --- Re-execution.

export interface ReexecutionCheck {
  passed: boolean;
  /** ‖update − Δ_reference‖, and the most an honest update may be off: see reexecute. */
  distance: number;
  allowed: number;
  /** ‖Δ_reference‖, the re-executed pseudo-gradient's norm. */
  referenceNorm: number;
  flops: number;
  /** Wall time of the re-executed steps. */
  ms: number;
  /** AdamW's second moment after the re-executed steps: the honest v of the round, when it passed. */
  secondMoment?: Uint8Array;
}

/**
 * Whether an honest update can be told from a bad one by its distance from the re-executed Δ: only
 * when the codec's error is bounded by a rounding step. Below density 1 the residual holds whole
 * blocks left unsent in earlier rounds, which no step bounds; int2 (ternary) rounds an element by up
 * to its block's largest magnitude, so the bound would pass nearly any vector of Δ's size.
 */
export function canReexecute(codec: CodecSettings): boolean {
  return codec.density >= 1 && roundingOf(codec.format) !== 'ternary';
}

/**
 * What the round's codec may honestly add to a pseudo-gradient Δ, in L2: per element, half a
 * quantisation step for this round's rounding plus half a step for the error-feedback residual
 * carried from the volunteer's last accepted round, each block's step being max|Δ_block| / qmax
 * (127 for int8, 7 for int4; that of this round:
 * AdamW moves each weight by about lr whatever its gradient, so a volunteer's steps hardly change from
 * round to round: the bound's ratio between consecutive rounds measured 0.88–1.16). Two roundings,
 * each uniform within half a step, have an RMS of √(2/12) = 0.41 of this bound (honest updates used
 * 40% of it), so an honest update fails only if its carried steps were about 3× this round's. Exact
 * fp32 adds nothing.
 */
export function codecErrorBound(reference: Float32Array, codec: CodecSettings): number {
  if (roundingOf(codec.format) === 'exact') return 0;
  if (!canReexecute(codec)) throw new RangeError(`no rounding step bounds the ${codec.format} codec's error`);
  const qmax = quantMax(codec.format);
  let sum = 0;
  for (let startAt = 0; startAt < reference.length; startAt += codec.blockSize) {
    const end = Math.min(startAt + codec.blockSize, reference.length);
    let maxAbs = 0;
    for (let i = startAt; i < end; i++) maxAbs = Math.max(maxAbs, Math.abs(reference[i]!));
    const step = maxAbs / qmax;
    sum += (end - startAt) * step * step;
  }
  return Math.sqrt(sum);
}

/**
 * Spot re-execution: `createTrainer()` (a fresh trainer, e.g. src/volunteer's createCpuTrainer: one
 * without an error-feedback residual of its own) trains `peer`'s H steps from the round's start
 * weights on its assigned batches, exactly as the volunteer's trainer was asked to, and returns the
 * dense pseudo-gradient Δ_reference (asked for in fp32, which encodes losslessly). The update passes
 * when ‖update − Δ_reference‖ ≤ GPU_CPU_TOLERANCE·‖Δ_reference‖ + codecErrorBound(Δ_reference): the
 * trainers' divergence plus what the codec honestly adds (the update is encode(Δ + residual), not Δ).
 * Comparing with the dense Δ_reference rather than its encoding spares one rounding in the bound.
 *
 * Only where canReexecute(codec) holds.
 */
export async function reexecute(
  work: RoundWork,
  peer: string,
  update: Float32Array,
  createTrainer: () => Trainer,
): Promise<ReexecutionCheck> {
  const { layout, manifest, start, dataset } = work;
  const { hyper, codec } = manifest;
  if (!canReexecute(codec))
    throw new RangeError(
      `re-execution bounds an honest update only at density 1 and a rounding codec, the round has ${codec.format} at density ${codec.density}`,
    );
  if (update.length !== start.length)
    throw new RangeError(`update has ${update.length} floats, the weights ${start.length}`);
  const shard = shardOf(manifest, peer);
  const trainer = createTrainer();
  await trainer.init({ config: layout.config, batchSize: hyper.batchSize, context: hyper.context });
  await trainer.loadData(dataset.train, dataset.validation);
  await trainer.loadParams(start);
  const t0 = performance.now();
  const result = await trainer.train({
    ...assignmentRequest(
      manifest,
      shard,
      { format: 'fp32', blockSize: codec.blockSize, density: 1 },
      work.secondMoment,
    ),
    reportSecondMoment: true,
  });
  const ms = performance.now() - t0;
  const reference = decodeUpdate(result.update, start.length);
  let squared = 0;
  for (let i = 0; i < reference.length; i++) squared += (update[i]! - reference[i]!) ** 2;
  const distance = Math.sqrt(squared);
  const referenceNorm = l2Norm(reference);
  const allowed = GPU_CPU_TOLERANCE * referenceNorm + codecErrorBound(reference, codec);
  return {
    passed: distance <= allowed,
    distance,
    allowed,
    referenceNorm,
    flops: result.flops,
    ms,
    secondMoment: result.secondMoment,
  };
}

// --- Near duplicates.

export interface DuplicatePair {
  /** An update of this round. */
  a: string;
  /** Another update of this round, or (`earlier`) one of the last round's. */
  b: string;
  earlier: boolean;
  cosine: number;
}

/**
 * Pairs of updates that nearly duplicate each other (cosine ≥ DUPLICATE_COSINE, and a gap 1 − cosine
 * within DUPLICATE_GAP_FRACTION of the round's typical gap): two of this round's, or one of this
 * round's and one of `earlier` (the last round's accepted updates: a replay). A zero update has no
 * direction and pairs with nothing (the loss filter rejects it).
 */
export function nearDuplicates(
  updates: ReadonlyMap<string, Float32Array>,
  earlier: ReadonlyMap<string, Float32Array> = new Map(),
): { pairs: DuplicatePair[]; flops: number } {
  const current = [...updates].map(([peer, u]) => ({ peer, u, norm: l2Norm(u) }));
  const previous = [...earlier].map(([peer, u]) => ({ peer, u, norm: l2Norm(u) }));
  const all: DuplicatePair[] = [];
  let dots = current.length + previous.length;
  const compare = (x: (typeof current)[number], y: (typeof current)[number], isEarlier: boolean) => {
    if (x.u.length !== y.u.length) throw new RangeError(`${x.peer} has ${x.u.length} floats, ${y.peer} ${y.u.length}`);
    if (x.norm === 0 || y.norm === 0) return;
    dots++;
    let dot = 0;
    for (let k = 0; k < x.u.length; k++) dot += x.u[k]! * y.u[k]!;
    all.push({ a: x.peer, b: y.peer, earlier: isEarlier, cosine: dot / (x.norm * y.norm) });
  };
  for (const [i, x] of current.entries()) {
    for (const y of current.slice(i + 1)) compare(x, y, false);
    for (const y of previous) compare(x, y, true);
  }
  const gaps = all.filter((p) => !p.earlier).map((p) => 1 - p.cosine);
  const typicalGap = gaps.length >= 3 ? median(gaps) : 1 - DUPLICATE_COSINE;
  const pairs = all.filter((p) => p.cosine >= DUPLICATE_COSINE && 1 - p.cosine <= DUPLICATE_GAP_FRACTION * typicalGap);
  // A dot product (or squared norm) is 2 FLOPs per element.
  return { pairs, flops: 2 * dots * (current[0]?.u.length ?? 0) };
}

// --- Adaptive checking.

/**
 * The probability that an update of a volunteer with `verifiedStreak` consecutive verified rounds is
 * re-executed: 1 for a new identity (or one whose last check failed), so a fresh sybil cannot cheat
 * unseen; then halving with each verified round, down to CHECK_FLOOR.
 */
export function checkProbability(verifiedStreak: number): number {
  if (!Number.isInteger(verifiedStreak) || verifiedStreak < 0)
    throw new RangeError(`verifiedStreak must be a non-negative integer, got ${verifiedStreak}`);
  return Math.max(CHECK_FLOOR, 2 ** -verifiedStreak);
}

// --- A round's verification.

export interface VerifyDeps {
  /** A fresh trainer for each re-execution: src/volunteer's createCpuTrainer on the seed. */
  createTrainer: () => Trainer;
  /** Uniform in [0, 1): which batches the filter evaluates and which updates are re-executed. */
  random: () => number;
  /**
   * Re-executions the round may spend, at most (the seed's CPU per round). Newcomers come first;
   * past it a volunteer with verified rounds is accepted unchecked, and a newcomer is not credited
   * but excused (see UpdateVerdict.excused). Default: no limit.
   */
  maxReexecutions?: number;
}

export interface UpdateVerdict {
  accepted: boolean;
  /** Why it was rejected. */
  reason?: string;
  /** Tokens credited: the assignment's when accepted (creditedTokens), else 0. */
  tokens: number;
  /** The volunteer's consecutive verified rounds after this one: one more when accepted, else 0. */
  streak: number;
  loss: LossCheck;
  reexecution?: ReexecutionCheck;
  /** The update this one nearly duplicates (of this round, or of the last one when it is a replay). */
  duplicateOf?: string;
  /**
   * Not credited only because the round's re-executions were spent before its turn: not held against
   * the volunteer (its streak and standing stay as they were).
   */
  excused?: boolean;
  /**
   * Proven not to be its sender's work: its re-execution differs, or it duplicates an update that
   * passed re-execution, or it replays one the seed accepted. An honest trainer never gets this (a
   * noisy batch can fail the filter, never these), so the seed stops spending work on the volunteer
   * (the roster suspends it: roster.ts's recordRound).
   */
  caught?: boolean;
}

export interface RoundVerification {
  verdicts: Map<string, UpdateVerdict>;
  /** Nominal FLOPs the checks spent, and the volunteers' FLOPs for the updates verified (roundFlops each). */
  flops: number;
  volunteerFlops: number;
}

/** Gives the event loop a turn between checks: each one blocks it for a few forward passes or more. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Settles a round's near-duplicate pairs, of which at most one side is its sender's work: repeatedly
 * checks the update with the most unsettled pairs (ties: the one that lowered its own batches most,
 * `drop`). One that fails drops out of its pairs; one that passes is an original, and its unsettled
 * partners are its copies. Pairs are settled one by one, not as groups: a colluders' vector (ALIE's)
 * can be close to honest updates that are far from each other. `check` re-executes (true: passed),
 * or returns undefined when it cannot: the updates still in pairs are then unsettled.
 */
export async function settlePairs(
  pairs: readonly (readonly [string, string])[],
  drop: (peer: string) => number,
  check: (peer: string) => Promise<boolean | undefined>,
): Promise<{ copies: Map<string, string>; unsettled: string[] }> {
  const partners = new Map<string, Set<string>>();
  for (const [a, b] of pairs) {
    partners.set(a, (partners.get(a) ?? new Set()).add(b));
    partners.set(b, (partners.get(b) ?? new Set()).add(a));
  }
  const copies = new Map<string, string>();
  const remove = (peer: string) => {
    for (const q of partners.get(peer) ?? []) partners.get(q)!.delete(peer);
    partners.delete(peer);
  };
  for (;;) {
    const open = [...partners].filter(([, others]) => others.size > 0);
    if (open.length === 0) return { copies, unsettled: [] };
    open.sort(([x, xs], [y, ys]) => ys.size - xs.size || drop(y) - drop(x));
    const [next, others] = open[0]!;
    const passed = await check(next);
    if (passed === undefined) return { copies, unsettled: open.map(([peer]) => peer) };
    if (passed)
      for (const copy of [...others]) {
        copies.set(copy, next);
        remove(copy);
      }
    remove(next);
  }
}

/**
 * Verifies every update of a round. `updates` are decoded updates of assigned volunteers, admitted by
 * validateUpdate; `streaks` their volunteers' consecutive verified rounds so far (the last verdict's
 * streak; absent for a new identity).
 *
 * 1. Every update goes through the loss filter. One that fails it is rejected, whatever its sender's
 *    record (re-executing it would cost a whole round to learn what the filter says for a few passes),
 *    unless it did lower its batches, by less than the margin, and its sender has verified rounds:
 *    near the loss's plateau an honest update's own batches fall by little (0.004 nats over two
 *    batches, measured in the Byzantine benchmark's last round), so that one is re-executed (step 4).
 * 2. Of those that passed, one that nearly duplicates an update of the last round (work.earlier) is a
 *    replay, and rejected.
 * 3. Two updates of the round that nearly duplicate each other cannot both be their senders' work.
 *    Such pairs are settled by re-execution, the update with the most pairs first (ALIE's colluders
 *    send one vector, close to many honest ones), then the one that lowered its own batches most (a
 *    copy barely lowers the copier's, so the original usually comes first): a failed one is caught
 *    and drops out of its pairs; a passed one is accepted, and the updates paired with it are its
 *    copies, rejected without a check. Pairs are settled one by one, not by groups: ALIE's vector is
 *    close to honest updates that are far from each other.
 * 4. Every other update that passed the filter is re-executed with checkProbability(streak).
 *
 * Where the codec rules re-execution out (canReexecute: density < 1, or int2), of each pair the
 * likelier original keeps its place unchecked and its partners are rejected, and the filter alone
 * decides the rest.
 */
export async function verifyRound(
  work: RoundWork,
  updates: RoundUpdates,
  streaks: ReadonlyMap<string, number>,
  deps: VerifyDeps,
): Promise<RoundVerification> {
  const reexecutable = canReexecute(work.manifest.codec);
  const verdicts = new Map<string, UpdateVerdict>();
  let flops = 0;
  const losses = new Map<string, LossCheck>();
  for (const peer of updates.peers) {
    const loss = lossFilter(work, peer, await updates.load(peer), { random: deps.random });
    flops += loss.flops;
    losses.set(peer, loss);
    await yieldToEventLoop();
  }

  /** Records the verdict on `peer`'s update: rejected for `reason`, accepted without one. */
  const decide = (peer: string, reason: string | undefined, extra: Partial<UpdateVerdict> = {}) => {
    const accepted = reason === undefined;
    verdicts.set(peer, {
      accepted,
      reason,
      tokens: accepted ? creditedTokens(work.manifest, peer) : 0,
      streak: accepted ? (streaks.get(peer) ?? 0) + 1 : 0,
      loss: losses.get(peer)!,
      ...extra,
    });
  };
  let reexecutionsLeft = deps.maxReexecutions ?? Number.POSITIVE_INFINITY;
  const spent = `the round's ${deps.maxReexecutions} re-executions were spent before its turn`;
  /** Re-executes `peer`'s update and decides on it; true when it passed. */
  const settle = async (peer: string) => {
    reexecutionsLeft--;
    const reexecution = await reexecute(work, peer, await updates.load(peer), deps.createTrainer);
    flops += reexecution.flops;
    const { passed, distance, allowed } = reexecution;
    const why = `re-execution differs by ${distance.toPrecision(3)}, more than the ${allowed.toPrecision(3)} allowed`;
    decide(peer, passed ? undefined : why, { reexecution, caught: !passed });
    return reexecution.passed;
  };

  const streakOf = (peer: string) => streaks.get(peer) ?? 0;
  const filterFailed = (peer: string) =>
    `the loss on its own batches fell by ${losses.get(peer)!.drop.toPrecision(3)}, under ${LOSS_FILTER_MARGIN}`;
  /** Failed the filter, but only by falling too little, from a sender with verified rounds: re-executed. */
  const inconclusive = new Set(
    [...losses].filter(([peer, loss]) => !loss.passed && loss.drop > 0 && streakOf(peer) > 0).map(([peer]) => peer),
  );
  for (const [peer, loss] of losses) if (!loss.passed && !inconclusive.has(peer)) decide(peer, filterFailed(peer));
  const passed = new Map(updates.peers.filter((peer) => losses.get(peer)!.passed).map((p) => [p, updates.sketch(p)]));
  const duplicates = nearDuplicates(passed, work.earlier);
  flops += duplicates.flops;
  for (const { a, b } of duplicates.pairs.filter((p) => p.earlier)) {
    if (!verdicts.has(a)) decide(a, `replays ${b}'s update of the last round`, { duplicateOf: b, caught: true });
  }

  const open = duplicates.pairs
    .filter(({ a, b, earlier }) => !earlier && !verdicts.has(a) && !verdicts.has(b))
    .map(({ a, b }) => [a, b] as const);
  const { copies, unsettled } = await settlePairs(
    open,
    (peer) => losses.get(peer)!.drop,
    async (peer) => {
      if (reexecutable) return reexecutionsLeft > 0 ? settle(peer) : undefined;
      decide(peer, undefined); // the likelier original, unchecked
      return true;
    },
  );
  for (const [copy, original] of copies)
    decide(copy, `nearly duplicates ${original}'s update`, { duplicateOf: original, caught: reexecutable });
  // None of these can be told from its partners' copies, so none is held against its sender.
  for (const peer of unsettled)
    decide(peer, `nearly duplicates another update of this round, and ${spent}`, { excused: true });

  // Newcomers first: the budget goes where trust is least.
  const rest = [...losses.keys()].filter((peer) => !verdicts.has(peer)).sort((a, b) => streakOf(a) - streakOf(b));
  for (const peer of rest) {
    const streak = streakOf(peer);
    const check = reexecutable && (inconclusive.has(peer) || deps.random() < checkProbability(streak));
    if (check && reexecutionsLeft > 0) await settle(peer);
    else if (inconclusive.has(peer)) decide(peer, filterFailed(peer), { excused: reexecutable });
    else if (check && streak === 0) decide(peer, `not verified: ${spent}`, { excused: true });
    else decide(peer, undefined);
  }
  return { verdicts, flops, volunteerFlops: updates.peers.length * roundFlops(work) };
}
