// One run of the Byzantine benchmark (bench/byzantine.ts), in a child process: DiLoCo rounds of
// simulated volunteers on the CPU reference model, some of them attackers, each round's updates
// going through the seed's stages in order: the round's codec (every update is in the seed's codec unless the job names another format, decoded
// as the seed decodes them), admission (normFloor ≤ norm ≤ normBound, over recent rounds),
// verification (src/fed/verify.ts's verifyRound), robust aggregation with the run's rule, DiLoCo's
// outer Nesterov step. A job is plain data and fully determines its figures (bar CPU times).
import {
  type AggregationRule,
  admissionBounds,
  aggregateRound,
  type CodecSettings,
  createSketcher,
  DEFAULT_FED_SETTINGS,
  decodeUpdate,
  encodeUpdate,
  freshDefense,
  inMemoryUpdates,
  l2Norm,
  maxUpdateNorm,
  outerStep,
  type RoundHyper,
  type RoundUpdates,
  type RoundWork,
  type UpdateFormat,
  verifyRound,
} from '../../src/fed';
import { type GptConfig, gptForwardCpu, initParams, paramLayout } from '../../src/model';
import { loadOrCreateData } from '../../src/seed/data';
import { EVAL_BATCH_SIZE } from '../../src/seed/validation';
import type { Trainer } from '../../src/trainer/trainer';
import { createRandom } from '../../src/util/random';
import { createCpuTrainer } from '../../src/volunteer';
import { type Attack, craftUpdate, TRAINS } from './byzantine-attacks';

/** The run's shape, the same for every job. */
export interface ByzantineSizes {
  model: GptConfig;
  volunteers: number;
  /** Rounds (R), local steps per round (DiLoCo's H) and the inner AdamW learning rate. */
  rounds: number;
  steps: number;
  lr: number;
  /** One volunteer's batch: rows and tokens per row. */
  batch: number;
  context: number;
  /** Batches of EVAL_BATCH_SIZE rows of `context` tokens in the validation set. */
  valBatches: number;
}

export interface ByzantineJob {
  /** A run folder holding the data (loadOrCreateData's files, made once by the parent). */
  runDir: string;
  sizes: ByzantineSizes;
  /** Initial weights' seed and the data order's seed. */
  seed: number;
  rule: AggregationRule;
  /** Whether the admitted updates go through verification (verifyRound) before aggregation. */
  verify: boolean;
  /** The round's update values (default: the seed's codec, DEFAULT_FED_SETTINGS). */
  format?: UpdateFormat;
  /** The attack and the share of volunteers running it; none: everyone honest. */
  attack?: Attack;
  percent: number;
}

export interface ByzantineJobResult {
  /** Mean loss on the benchmark's validation set after the last round. */
  valLoss: number;
  /** Bad updates sent, and of them rejected or down-weighted (DOWN_WEIGHTED). */
  bad: number;
  badDetected: number;
  /** Honest updates sent, and of them rejected (by admission or the verify stage). */
  honest: number;
  honestRejected: number;
  /** Nominal FLOPs the verify stage spent, and the volunteers' FLOPs for the updates it verified (verifyRound's). */
  verifyFlops: number;
  verifiedFlops: number;
  /** CPU seconds of the verify stage, and of the volunteers' training (honest and attackers' own). */
  verifyCpuSeconds: number;
  trainCpuSeconds: number;
  /** Local trainings run (each H steps), updates submitted, and of them admitted to verification. */
  trainings: number;
  updates: number;
  verified: number;
  cpuSeconds: number;
  seconds: number;
}

/**
 * A bad update counts as down-weighted when its weight in the aggregate (Aggregated.weights: its say
 * relative to its 1/n in a plain mean) is below this: it moved the result by less than half of what a
 * plain mean would have let it.
 */
export const DOWN_WEIGHTED = 0.5;

/**
 * Verified rounds every volunteer starts with: enough for verify's re-execution probability to sit at
 * its floor (checkProbability(6) = CHECK_FLOOR = 1/64), the steady state the overhead goal is about.
 * The attackers start trusted too: they turned bad after earning trust, the hardest case for
 * verification (re-executed in 1/64 of their rounds unless the loss filter stops them first).
 */
export const INITIAL_STREAK = 6;

/** CPU seconds (user + system) this process spent since `since`. */
const cpuSeconds = (since: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1e6;
};

/**
 * The stage between admission and aggregation: src/fed/verify.ts's verifyRound (the loss filter on
 * every update, near-duplicate groups, spot re-execution on the CPU reference trainer with a
 * probability that falls with the volunteer's verified streak) on the admitted updates, by peer;
 * each volunteer's streak in `streaks` moves with its verdict.
 */
async function verifyStage(
  work: RoundWork,
  admitted: RoundUpdates,
  streaks: Map<string, number>,
  random: () => number,
) {
  const c0 = process.cpuUsage();
  const checked = await verifyRound(work, admitted, streaks, { createTrainer: createCpuTrainer, random });
  for (const [peer, verdict] of checked.verdicts) streaks.set(peer, verdict.streak);
  return { ...checked, cpuSeconds: cpuSeconds(c0) };
}

/** The volunteers running the attack: `count` of `volunteers`, spread evenly (shards differ by genre). */
export function attackerIndices(volunteers: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.floor(((i + 0.5) * volunteers) / count));
}

/** Per process: the data, loaded once for all the jobs this process runs. */
let loaded: { runDir: string; data: ReturnType<typeof loadOrCreateData> } | undefined;

export async function runByzantineJob(job: ByzantineJob): Promise<ByzantineJobResult> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { sizes, seed, rule, verify, attack, percent, format } = job;
  const { volunteers: V, rounds: R, steps: H, batch: B, context: T } = sizes;
  if (loaded?.runDir !== job.runDir)
    loaded = { runDir: job.runDir, data: loadOrCreateData(job.runDir, sizes.model.vocab) };
  const { dataset } = await loaded.data;
  const layout = paramLayout(sizes.model);
  const P = layout.total;
  const name = `seed ${seed} ${rule}${verify ? '' : ' unverified'} ${attack ?? 'none'}@${percent}`;
  const hyper: RoundHyper = {
    ...DEFAULT_FED_SETTINGS.hyper,
    steps: H,
    batchSize: B,
    context: T,
    lr: sizes.lr,
    dataSeed: seed,
  };
  const codec: CodecSettings = {
    ...DEFAULT_FED_SETTINGS.codec,
    format: format ?? DEFAULT_FED_SETTINGS.codec.format,
    density: 1,
  };
  const analyticBound = maxUpdateNorm(hyper, P);
  const attackers = new Set(attack ? attackerIndices(V, Math.round((percent / 100) * V)) : []);
  const peerOf = (v: number) => `volunteer-${v}`;
  const streaks = new Map(Array.from({ length: V }, (_, v) => [peerOf(v), INITIAL_STREAK]));
  /** Volunteers caught sending work not their own (UpdateVerdict.caught): not assigned again in the run. */
  const suspended = new Set<string>();
  const verifyRandom = createRandom(seed * 7_919 + 1);

  const trainers: Trainer[] = [];
  for (let v = 0; v < V; v++) {
    const trainer = createCpuTrainer();
    await trainer.init({ config: sizes.model, batchSize: B, context: T });
    await trainer.loadData(dataset.train, dataset.validation);
    trainers.push(trainer);
  }
  const params = initParams(layout, seed);
  const momentum = new Float32Array(P);
  let defense = freshDefense();
  /** Duplicates are found from count sketches, as the seed finds them (sketch.ts). */
  const sketch = createSketcher(P, seed);
  /** The sketches of the last round's accepted updates by peer: verification rejects replays of them. */
  let earlier: Map<string, Float32Array> | undefined;
  const firstUpdates = new Map<number, Float32Array>();
  const result = {
    bad: 0,
    badDetected: 0,
    honest: 0,
    honestRejected: 0,
    verifyFlops: 0,
    verifiedFlops: 0,
    verifyCpuSeconds: 0,
    trainCpuSeconds: 0,
  };
  let trainings = 0;
  let updates = 0;
  let verifiedCount = 0;

  /** Volunteer v's H local steps from `params` on its own shard; the encoded update and the losses. */
  async function train(v: number, r: number) {
    const c0 = process.cpuUsage();
    await trainers[v]!.loadParams(params);
    const out = await trainers[v]!.train({
      steps: H,
      hyper: { lr: hyper.lr, weightDecay: hyper.weightDecay },
      seed,
      shard: v,
      shardCount: V,
      firstStep: r * H,
      codec,
    });
    result.trainCpuSeconds += cpuSeconds(c0);
    trainings++;
    return { vector: decodeUpdate(out.update, P), losses: out.losses };
  }

  for (let r = 0; r < R; r++) {
    const { floor, bound } = admissionBounds(defense, analyticBound);
    const honestVectors = new Map<number, Float32Array>();
    const losses: number[][] = [];
    /** Volunteers assigned this round: all but the suspended (roster.ts: SUSPENSION_ROUNDS outlasts the run). */
    const assigned = Array.from({ length: V }, (_, v) => v).filter((v) => !suspended.has(peerOf(v)));
    for (const v of assigned) {
      if (attackers.has(v)) continue;
      const trained = await train(v, r);
      honestVectors.set(v, trained.vector);
      losses.push(trained.losses);
    }
    // Every volunteer's update as the seed receives it: int8 bytes in the round's codec, decoded.
    const sent: { v: number; bad: boolean; vector: Float32Array }[] = [];
    for (const v of assigned) {
      const honest = honestVectors.get(v);
      if (honest || !attack) {
        sent.push({ v, bad: false, vector: honest! });
        continue;
      }
      const trains = TRAINS[attack];
      const own = trains === 'every' || (trains === 'first' && r === 0) ? (await train(v, r)).vector : undefined;
      if (trains === 'first' && own) firstUpdates.set(v, own);
      // A stale attacker's first round is honest work; it turns bad when it sends it again.
      if (attack === 'stale' && r === 0) {
        sent.push({ v, bad: false, vector: own! });
        continue;
      }
      const crafted = craftUpdate(attack, {
        own,
        first: firstUpdates.get(v),
        honest: [...honestVectors.values()],
        bound,
        volunteers: V,
        attackers: attackers.size,
        seed: seed * 1_000_003 + r * 1_009 + v,
      });
      sent.push({ v, bad: true, vector: decodeUpdate(encodeUpdate(crafted, codec), P) });
    }
    updates += sent.length;

    // Admission (the norm floor and bound), then the verify stage on what was admitted.
    const norms = sent.map((s) => l2Norm(s.vector));
    const rejected = norms.map((norm) => !(norm >= floor && norm <= bound));
    /** Indices of the updates not rejected so far. */
    const kept = () => rejected.flatMap((no, k) => (no ? [] : [k]));
    for (const [k, no] of rejected.entries()) if (no) streaks.set(peerOf(sent[k]!.v), 0);
    const admitted = kept();
    const verifyRejected = new Set<number>();
    if (verify) {
      verifiedCount += admitted.length;
      const work: RoundWork = {
        layout,
        manifest: {
          round: r,
          hyper,
          shardCount: V,
          codec,
          assignments: Object.fromEntries(sent.map((s) => [peerOf(s.v), s.v])),
        },
        start: params.slice(),
        dataset,
        earlier,
      };
      const verified = await verifyStage(
        work,
        inMemoryUpdates(new Map(admitted.map((k) => [peerOf(sent[k]!.v), sent[k]!.vector])), sketch),
        streaks,
        verifyRandom,
      );
      result.verifyCpuSeconds += verified.cpuSeconds;
      result.verifyFlops += verified.flops;
      result.verifiedFlops += verified.volunteerFlops;
      for (const k of admitted) {
        const verdict = verified.verdicts.get(peerOf(sent[k]!.v))!;
        if (!verdict.accepted) verifyRejected.add(k);
        if (verdict.caught) suspended.add(peerOf(sent[k]!.v));
      }
      for (const k of verifyRejected) rejected[k] = true;
    }

    const accepted = kept();
    const weights = new Float64Array(sent.length);
    let radius: number | undefined;
    if (accepted.length > 0) {
      const { aggregated, next } = aggregateRound(
        accepted.map((k) => sent[k]!.vector),
        rule,
        defense,
        { round: r, analyticBound },
      );
      defense = next;
      for (const [j, k] of accepted.entries()) weights[k] = aggregated.weights[j]!;
      radius = aggregated.radius;
      outerStep(params, momentum, aggregated.vector, DEFAULT_FED_SETTINGS.outer);
      earlier = new Map(accepted.map((k) => [peerOf(sent[k]!.v), sketch(sent[k]!.vector)]));
      // Error feedback carries over only what the seed took in.
      for (const k of accepted)
        if (!sent[k]!.bad && !attackers.has(sent[k]!.v)) await trainers[sent[k]!.v]!.updateAccepted();
    }
    for (const [k, s] of sent.entries()) {
      if (s.bad) {
        result.bad++;
        if (rejected[k] || weights[k]! < DOWN_WEIGHTED) result.badDetected++;
      } else if (!attackers.has(s.v)) {
        result.honest++;
        if (rejected[k]) result.honestRejected++;
      }
    }
    const mean = (pick: (l: number[]) => number) =>
      (losses.reduce((s, l) => s + pick(l), 0) / losses.length).toFixed(3);
    // Each update's fate: a (admission) or v (verify) when rejected, else its weight in the aggregate.
    const fate = (k: number) => (verifyRejected.has(k) ? 'v' : rejected[k] ? 'a' : weights[k]!.toFixed(2));
    const fates = (bad: boolean) => sent.flatMap((s, k) => (s.bad === bad ? [fate(k)] : [])).join(' ');
    console.log(
      `  ${name}: round ${r}: norms ${floor.toFixed(2)}–${bound.toFixed(2)}${radius === undefined ? '' : `, τ ${radius.toFixed(2)}`}; honest ${fates(false)}${attack ? `; bad ${fates(true)}` : ''}; honest train loss ${mean((l) => l[0]!)} -> ${mean((l) => l.at(-1)!)}`,
    );
  }

  const valSet = dataset.evalBatches(sizes.valBatches, { batchSize: EVAL_BATCH_SIZE, context: T });
  const valLoss =
    valSet.reduce((sum, b) => sum + gptForwardCpu(layout, params, b.inputs, b.targets, EVAL_BATCH_SIZE, T).loss!, 0) /
    valSet.length;
  const seconds = (performance.now() - t0) / 1000;
  console.log(`  ${name}: validation loss ${valLoss.toFixed(4)} (${seconds.toFixed(0)} s)`);
  return { valLoss, ...result, trainings, updates, verified: verifiedCount, cpuSeconds: cpuSeconds(cpu0), seconds };
}
