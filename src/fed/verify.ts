// Verification of a round's work, on the seed. A volunteer's batches are a pure function of (data
// seed, shard, step), so the seed knows exactly what each one was asked to do and can check it:
//
//   - lossFilter, every update: applied to the round's start weights, it must lower the loss on the
//     volunteer's own assigned batches, one or two drawn after the update arrived. Two forward passes each.
//   - nearDuplicates, every round: an update that nearly duplicates another one is flagged.
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
import { l2Norm } from './aggregate';
import { decodeUpdate } from './codec';
import type { CodecSettings, RoundManifest } from './documents';

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
  /** The last round's accepted updates, if kept: an update that replays one of them is rejected. */
  earlier?: ReadonlyMap<string, Float32Array>;
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
 * Cosine similarity at which two updates are near duplicates. Honest updates of different shards in
 * one round measured 0.04–0.80 (tiny model; 0.34–0.70 at the seed's round shape) and up to 0.89 on
 * the smaller model, whose shards share more; an update against any of the last round's, up to
 * 0.77. A copy with random noise of 0.3× its norm added still has 1/√1.09 = 0.958.
 */
export const DUPLICATE_COSINE = 0.95;
/**
 * Re-execution probability once trust is earned. A new identity is always re-executed, and the
 * probability halves with each verified round down to this floor (after five): a volunteer that
 * cheats subtly after earning trust is still caught in 1/32 of its rounds, and checking a trusted
 * volunteer costs the seed 3% of that volunteer's compute.
 */
export const CHECK_FLOOR = 1 / 32;
/**
 * Relative L2 distance ‖Δ_gpu − Δ_cpu‖ / ‖Δ_cpu‖ between the GPU trainer's and the CPU reference's
 * pseudo-gradients after H = 20 steps of the tiny model (B=4, T=64) from the same weights on the same
 * batches: 9.5e-6, measured on SwiftShader by test/browser/verify-divergence.spec.ts (1.7e-5 after
 * one step: it does not grow over the round). Their int8 encodings differ by 1e-4, a few elements
 * rounding the other way.
 */
export const MEASURED_GPU_CPU_DIVERGENCE = 1e-5;
/**
 * The re-execution tolerance on that distance: 10× the measured figure, since real GPUs (fused
 * multiply-adds, their own exp and tanh) may drift further than SwiftShader. Far below what int8
 * honestly adds (codecErrorBound: 1.3–1.5% of the norm in our rounds), so at int8 it gives an attacker
 * nothing.
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
export function assignmentRequest(manifest: RoundTerms, shard: number, codec = manifest.codec): TrainRequest {
  const { round, hyper, shardCount } = manifest;
  return {
    steps: hyper.steps,
    hyper: { lr: hyper.lr, weightDecay: hyper.weightDecay },
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
}

/**
 * What the round's codec may honestly add to a pseudo-gradient Δ, in L2: per element, half an int8
 * step for this round's rounding plus half a step for the error-feedback residual carried from the
 * volunteer's last accepted round, each block's step being max|Δ_block| / 127 (that of this round:
 * AdamW moves each weight by about lr whatever its gradient, so a volunteer's steps hardly change from
 * round to round: the bound's ratio between consecutive rounds measured 0.88–1.16). Two roundings,
 * each uniform within half a step, have an RMS of √(2/12) = 0.41 of this bound (honest updates used
 * 40% of it), so an honest update fails only if its carried steps were about 3× this round's. Exact
 * fp32 adds nothing.
 */
export function codecErrorBound(reference: Float32Array, codec: CodecSettings): number {
  if (codec.format === 'fp32') return 0;
  let sum = 0;
  for (let startAt = 0; startAt < reference.length; startAt += codec.blockSize) {
    const end = Math.min(startAt + codec.blockSize, reference.length);
    let maxAbs = 0;
    for (let i = startAt; i < end; i++) maxAbs = Math.max(maxAbs, Math.abs(reference[i]!));
    const step = maxAbs / 127;
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
 * Only at density 1: below it the residual holds whole blocks left unsent in earlier rounds, which
 * no quantisation step bounds, so an honest update cannot be told from a bad one by its distance.
 */
export async function reexecute(
  work: RoundWork,
  peer: string,
  update: Float32Array,
  createTrainer: () => Trainer,
): Promise<ReexecutionCheck> {
  const { layout, manifest, start, dataset } = work;
  const { hyper, codec } = manifest;
  if (codec.density < 1)
    throw new RangeError(`re-execution bounds an honest update only at density 1, the round has ${codec.density}`);
  if (update.length !== start.length)
    throw new RangeError(`update has ${update.length} floats, the weights ${start.length}`);
  const shard = shardOf(manifest, peer);
  const trainer = createTrainer();
  await trainer.init({ config: layout.config, batchSize: hyper.batchSize, context: hyper.context });
  await trainer.loadData(dataset.train, dataset.validation);
  await trainer.loadParams(start);
  const t0 = performance.now();
  const result = await trainer.train(
    assignmentRequest(manifest, shard, { format: 'fp32', blockSize: codec.blockSize, density: 1 }),
  );
  const ms = performance.now() - t0;
  const reference = decodeUpdate(result.update, start.length);
  let squared = 0;
  for (let i = 0; i < reference.length; i++) squared += (update[i]! - reference[i]!) ** 2;
  const distance = Math.sqrt(squared);
  const referenceNorm = l2Norm(reference);
  const allowed = GPU_CPU_TOLERANCE * referenceNorm + codecErrorBound(reference, codec);
  return { passed: distance <= allowed, distance, allowed, referenceNorm, flops: result.flops, ms };
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
 * Pairs of updates whose cosine similarity is at least DUPLICATE_COSINE: two of this round's, or
 * one of this round's and one of `earlier` (the last round's accepted updates: a replay). A zero
 * update has no direction and pairs with nothing (the loss filter rejects it).
 */
export function nearDuplicates(
  updates: ReadonlyMap<string, Float32Array>,
  earlier: ReadonlyMap<string, Float32Array> = new Map(),
): { pairs: DuplicatePair[]; flops: number } {
  const current = [...updates].map(([peer, u]) => ({ peer, u, norm: l2Norm(u) }));
  const previous = [...earlier].map(([peer, u]) => ({ peer, u, norm: l2Norm(u) }));
  const pairs: DuplicatePair[] = [];
  let dots = current.length + previous.length;
  const compare = (x: (typeof current)[number], y: (typeof current)[number], isEarlier: boolean) => {
    if (x.u.length !== y.u.length) throw new RangeError(`${x.peer} has ${x.u.length} floats, ${y.peer} ${y.u.length}`);
    if (x.norm === 0 || y.norm === 0) return;
    dots++;
    let dot = 0;
    for (let k = 0; k < x.u.length; k++) dot += x.u[k]! * y.u[k]!;
    const cosine = dot / (x.norm * y.norm);
    if (cosine >= DUPLICATE_COSINE) pairs.push({ a: x.peer, b: y.peer, earlier: isEarlier, cosine });
  };
  for (const [i, x] of current.entries()) {
    for (const y of current.slice(i + 1)) compare(x, y, false);
    for (const y of previous) compare(x, y, true);
  }
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
}

export interface RoundVerification {
  verdicts: Map<string, UpdateVerdict>;
  /** Nominal FLOPs the checks spent, and the volunteers' FLOPs for the updates verified (roundFlops each). */
  flops: number;
  volunteerFlops: number;
}

/** Gives the event loop a turn between checks: each one blocks it for a few forward passes or more. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Groups of updates joined by near-duplicate pairs (connected components), each of two or more. */
function duplicateGroups(pairs: readonly DuplicatePair[]): string[][] {
  const parent = new Map<string, string>();
  const root = (x: string): string => {
    const p = parent.get(x) ?? x;
    return p === x ? x : root(p);
  };
  for (const { a, b } of pairs) {
    const [ra, rb] = [root(a), root(b)];
    parent.set(ra, ra);
    if (ra !== rb) parent.set(rb, ra);
  }
  const groups = new Map<string, string[]>();
  for (const x of parent.keys()) groups.set(root(x), [...(groups.get(root(x)) ?? []), x]);
  return [...groups.values()];
}

/**
 * Verifies every update of a round. `updates` are decoded updates of assigned volunteers, admitted by
 * validateUpdate; `streaks` their volunteers' consecutive verified rounds so far (the last verdict's
 * streak; absent for a new identity).
 *
 * 1. Every update goes through the loss filter.
 * 2. Of those that passed, one that nearly duplicates an update of the last round (work.earlier) is a
 *    replay, and rejected.
 * 3. The others that nearly duplicate each other form groups, of which at most one can be its
 *    sender's work. They are re-executed in the order of how much they lowered their own batch's
 *    loss (a copy barely lowers the copier's batches, so the original usually comes first) until
 *    one passes; it is accepted, and the rest are rejected as its duplicates without a check.
 * 4. Every other update that passed the filter is re-executed with checkProbability(streak).
 * 5. An update that failed the filter is re-executed when its volunteer has verified rounds (batches
 *    are noisy: an honest update fails now and then), and rejected otherwise.
 *
 * At density < 1 nothing can be re-executed (see reexecute): the likely original of a group keeps
 * its place unchecked, and the filter alone decides the rest.
 */
export async function verifyRound(
  work: RoundWork,
  updates: ReadonlyMap<string, Float32Array>,
  streaks: ReadonlyMap<string, number>,
  deps: VerifyDeps,
): Promise<RoundVerification> {
  const canReexecute = work.manifest.codec.density >= 1;
  const verdicts = new Map<string, UpdateVerdict>();
  let flops = 0;
  const losses = new Map<string, LossCheck>();
  for (const [peer, update] of updates) {
    const loss = lossFilter(work, peer, update, { random: deps.random });
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
    const reexecution = await reexecute(work, peer, updates.get(peer)!, deps.createTrainer);
    flops += reexecution.flops;
    const { passed, distance, allowed } = reexecution;
    const why = `re-execution differs by ${distance.toPrecision(3)}, more than the ${allowed.toPrecision(3)} allowed`;
    decide(peer, passed ? undefined : why, { reexecution });
    return reexecution.passed;
  };

  const passed = new Map([...updates].filter(([peer]) => losses.get(peer)!.passed));
  const duplicates = nearDuplicates(passed, work.earlier);
  flops += duplicates.flops;
  for (const { a, b } of duplicates.pairs.filter((p) => p.earlier)) {
    if (!verdicts.has(a)) decide(a, `replays ${b}'s update of the last round`, { duplicateOf: b });
  }
  const pairs = duplicates.pairs.filter((p) => !p.earlier && !verdicts.has(p.a) && !verdicts.has(p.b));
  /** Re-executes `peers` in turn until one passes, and returns it (undefined when none does). */
  const firstToPass = async (peers: readonly string[]) => {
    for (const peer of peers) if (reexecutionsLeft > 0 && (await settle(peer))) return peer;
    return undefined;
  };
  for (const group of duplicateGroups(pairs)) {
    // Likeliest original first; at most one of a group can pass re-execution (their assignments differ).
    group.sort((x, y) => losses.get(y)!.drop - losses.get(x)!.drop);
    let original: string | undefined = group[0]!;
    if (canReexecute) original = await firstToPass(group);
    else decide(original, undefined);
    for (const copy of group) {
      if (verdicts.has(copy)) continue;
      if (original) decide(copy, `nearly duplicates ${original}'s update`, { duplicateOf: original });
      else decide(copy, `nearly duplicates another update of this round, and ${spent}`);
    }
  }

  // Newcomers first: the budget goes where trust is least.
  const streakOf = (peer: string) => streaks.get(peer) ?? 0;
  const rest = [...losses].filter(([peer]) => !verdicts.has(peer)).sort(([a], [b]) => streakOf(a) - streakOf(b));
  for (const [peer, loss] of rest) {
    const streak = streakOf(peer);
    const filterFailed = `the loss on its own batches fell by ${loss.drop.toPrecision(3)}, under ${LOSS_FILTER_MARGIN}`;
    const check = canReexecute && (loss.passed ? deps.random() < checkProbability(streak) : streak > 0);
    if (check && reexecutionsLeft > 0) await settle(peer);
    else if (!loss.passed) decide(peer, filterFailed);
    else if (check && streak === 0) decide(peer, `not verified: ${spent}`, { excused: true });
    else decide(peer, undefined);
  }
  return { verdicts, flops, volunteerFlops: updates.size * roundFlops(work) };
}
