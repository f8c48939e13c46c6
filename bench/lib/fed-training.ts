// One job of the federated benchmark (bench/federated.ts), run in a child process: a seed's initial
// validation loss, a central run at one learning rate, or a federated run through the real
// coordinator. All on the CPU reference model, no browser, no network, no GPU. A job is plain data
// and fully determines its losses (the coordinator's fresh signing key changes only signatures).
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { Batch, TokenDataset } from '../../src/data';
import {
  type AggregationRule,
  applyRoundDelta,
  assignmentRequest,
  type CodecSettings,
  createCoordinator,
  DEFAULT_FED_SETTINGS,
  type FedSettings,
  freshCoordinatorState,
  type LrSchedule,
  type OuterOptions,
  type RoundManifest,
  type UpdateHeader,
  verifyDeltaManifest,
  verifyMomentManifest,
  verifyReceipt,
} from '../../src/fed';
import {
  DEFAULT_HYPER,
  type GptCpuTrainState,
  gptForwardCpu,
  gptTrainStepCpu,
  initParams,
  modelPreset,
  type ParamLayout,
  paramLayout,
  type TrainHyper,
} from '../../src/model';
import { memoryLedger } from '../../src/seed';
import { loadOrCreateData } from '../../src/seed/data';
import { EVAL_BATCH_SIZE, validationLoss } from '../../src/seed/validation';
import { createWeightsPublisher } from '../../src/seed/weights';
import { assembleBytes, type SignedDocument, sha256Hex, verifyManifest } from '../../src/swarm';
import type { Trainer } from '../../src/trainer/trainer';
import { createCpuTrainer } from '../../src/volunteer';
import { sumTraffic, type Traffic, type VolunteerRound, volunteerRoundTraffic } from './fed-traffic';

/** The run's shape, the same for every job. */
export interface FedSizes {
  model: string;
  volunteers: number;
  /** Rounds (R) and local steps per round (DiLoCo's H). */
  rounds: number;
  steps: number;
  /** One volunteer's batch: rows and tokens per row. */
  batch: number;
  context: number;
  /** Batches of EVAL_BATCH_SIZE rows of `context` tokens in the benchmark's validation set. */
  valBatches: number;
}

/** Central's lr over its R·H steps: a linear warm-up, then a cosine down to a fraction of the lr. */
export interface CentralSchedule {
  warmupSteps: number;
  finalFraction: number;
}

export type FedJobSpec =
  | { kind: 'initial' }
  | { kind: 'central'; lr: number; schedule?: CentralSchedule }
  | {
      kind: 'federated';
      codec: CodecSettings;
      aggregation: AggregationRule;
      outer: OuterOptions;
      /** The inner AdamW lr (the seed's hyper.lr). */
      lr: number;
      /** The inner lr's warm-up over each round's first local steps, and its schedule over the rounds. */
      warmupSteps?: number;
      lrSchedule?: LrSchedule;
      /** Volunteers keep their AdamW moments across rounds (unverifiable: see createCpuTrainer). */
      keepOptimizerState?: boolean;
      /**
       * Rounds name AdamW's second moment (FedSettings.shareSecondMoment): here every update counts
       * as re-executed, its v the volunteer's own (what an honest re-execution reproduces).
       */
      shareSecondMoment?: boolean;
      /** The round deltas' codec (FedSettings.deltaCodec); absent: volunteers download the whole weights each round. */
      deltaCodec?: CodecSettings;
    };

type FederatedSpec = Extract<FedJobSpec, { kind: 'federated' }>;

export type FedJob = FedJobSpec & {
  /** The case, as the benchmark names it. */
  label: string;
  /** A run folder holding the data (loadOrCreateData's files, made once by the parent). */
  runDir: string;
  /** The run's shape; every job of a benchmark has the same volunteers, context and validation set. */
  sizes: FedSizes;
  /** Initial weights' seed and the data order's seed (the round's dataSeed). */
  seed: number;
};

export interface FedJobResult {
  /** Mean loss on the benchmark's validation set: after training, or of the initial weights for 'initial'. */
  valLoss: number;
  /** The seed's own validation loss (its fixed 4 batches) after 0, 1, …, R rounds (R·H steps); empty for 'initial'. */
  history: number[];
  /** Per volunteer, the bytes of all its rounds; empty unless federated. */
  traffic: Traffic[];
  /** CPU time this job used (user + system), and its wall time. */
  cpuSeconds: number;
  seconds: number;
}

interface Context {
  layout: ParamLayout;
  dataset: TokenDataset;
  dataSha: { train: string; validation: string };
  /** The seed's evaluation (what the coordinator logs each round). */
  seedEval(params: Float32Array): number;
  /** The benchmark's larger validation set: the figure reported. */
  benchEval(params: Float32Array): number;
}

/** Simulated volunteers train one after another on one thread; the deadline must not cut a round short. */
const ROUND_MS = 3_600_000;

const fmt = (x: number) => x.toFixed(4);

/** Per process: the data of a run folder, loaded once for all the jobs this process runs. */
let loaded: { runDir: string; ctx: Promise<Context> } | undefined;

function context(job: FedJob): Promise<Context> {
  if (loaded?.runDir !== job.runDir) loaded = { runDir: job.runDir, ctx: loadContext(job.runDir, job.sizes) };
  return loaded.ctx;
}

async function loadContext(runDir: string, sizes: FedSizes): Promise<Context> {
  const config = modelPreset(sizes.model);
  const layout = paramLayout(config);
  const data = await loadOrCreateData(runDir, config.vocab);
  const T = sizes.context;
  const valSet = data.dataset.evalBatches(sizes.valBatches, { batchSize: EVAL_BATCH_SIZE, context: T });
  return {
    layout,
    dataset: data.dataset,
    dataSha: data.sha256,
    seedEval: validationLoss(config, data.dataset, T),
    benchEval: (params) =>
      valSet.reduce((sum, b) => sum + gptForwardCpu(layout, params, b.inputs, b.targets, EVAL_BATCH_SIZE, T).loss!, 0) /
      valSet.length,
  };
}

export async function runFedJob(job: FedJob): Promise<FedJobResult> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const ctx = await context(job);
  const name = `seed ${job.seed} ${job.label}`;
  const initial = initParams(ctx.layout, job.seed);
  let run: { params: Float32Array; history: number[]; traffic: Traffic[] };
  if (job.kind === 'initial') run = { params: initial, history: [], traffic: [] };
  else if (job.kind === 'central') run = runCentral(name, ctx, job, initial);
  else run = await runFederated(name, ctx, job, initial);
  const valLoss = ctx.benchEval(run.params);
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  console.log(`  ${name}: validation loss ${fmt(valLoss)} (${seconds.toFixed(0)} s)`);
  return { valLoss, history: run.history, traffic: run.traffic, cpuSeconds: (cpu.user + cpu.system) / 1e6, seconds };
}

/** The worker's AdamW, as a volunteer trains: the round's weight decay, and `lr`. */
function innerHyper(lr: number): TrainHyper {
  return { ...DEFAULT_HYPER, lr, weightDecay: DEFAULT_FED_SETTINGS.hyper.weightDecay };
}

/** The batch volunteer-shard `shard` trains on at local step `i` of round `round` (the worker's rule). */
function shardBatch(ctx: Context, sizes: FedSizes, seed: number, round: number, i: number, shard: number): Batch {
  const { batch, context, volunteers, steps } = sizes;
  return ctx.dataset.batch('train', {
    batchSize: batch,
    context,
    seed,
    shard,
    shardCount: volunteers,
    step: round * steps + i,
  });
}

function freshState(params: Float32Array): GptCpuTrainState {
  return { params, m: new Float32Array(params.length), v: new Float32Array(params.length), step: 0 };
}

/** Central's lr at step k of `total` under `schedule` (constant `lr` without one). */
export function centralLr(lr: number, schedule: CentralSchedule | undefined, k: number, total: number): number {
  if (!schedule) return lr;
  const { warmupSteps, finalFraction } = schedule;
  if (k < warmupSteps) return (lr * (k + 1)) / warmupSteps;
  const progress = (k - warmupSteps) / Math.max(1, total - 1 - warmupSteps);
  return lr * (finalFraction + (1 - finalFraction) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/**
 * One trainer, R·H AdamW steps at batch volunteers·B: step k of round r concatenates the batches the
 * volunteer shards draw at that step, i.e. exactly the federated runs' tokens, as synchronous
 * data-parallel training over that many workers would (the mean loss of the concatenation is the
 * mean of their losses, so its gradient is the all-reduced mean of theirs).
 */
function runCentral(name: string, ctx: Context, job: FedJob & { kind: 'central' }, initial: Float32Array) {
  const { volunteers, batch: B, context: T, rounds, steps } = job.sizes;
  const state = freshState(initial.slice());
  const history = [ctx.seedEval(state.params)];
  const rows = volunteers * B;
  for (let r = 0; r < rounds; r++) {
    let first = NaN;
    let last = NaN;
    for (let i = 0; i < steps; i++) {
      const inputs = new Uint32Array(rows * T);
      const targets = new Uint32Array(rows * T);
      for (let s = 0; s < volunteers; s++) {
        const b = shardBatch(ctx, job.sizes, job.seed, r, i, s);
        inputs.set(b.inputs, s * B * T);
        targets.set(b.targets, s * B * T);
      }
      const hyper = innerHyper(centralLr(job.lr, job.schedule, r * steps + i, rounds * steps));
      const { loss } = gptTrainStepCpu(ctx.layout, state, { inputs, targets, B: rows, T }, hyper);
      if (!Number.isFinite(loss)) throw new Error(`${name} diverged: loss ${loss} at step ${r * steps + i}`);
      if (i === 0) first = loss;
      last = loss;
    }
    history.push(ctx.seedEval(state.params));
    console.log(
      `  ${name}: steps ${r * steps + 1}-${(r + 1) * steps} train loss ${fmt(first)} -> ${fmt(last)}, seed validation ${fmt(history.at(-1)!)}`,
    );
  }
  return { params: state.params, history, traffic: [] };
}

/** Resolves with each round manifest the coordinator publishes (and its signed document), in order. */
function roundFeed() {
  const queue: { signed: SignedDocument; manifest: RoundManifest }[] = [];
  let wake: (() => void) | undefined;
  return {
    publish(signed: SignedDocument, manifest: RoundManifest) {
      queue.push({ signed, manifest });
      wake?.();
    },
    async next() {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return queue.shift()!;
    },
  };
}

/**
 * The seed's settings with the benchmark's sizes: one shard per volunteer (the central run trains on
 * exactly those shards), a deadline that never cuts a simulated round, the data order's seed, and the
 * case's codec, outer optimiser and inner lr schedule.
 */
function fedSettings(job: FedJob & FederatedSpec): FedSettings {
  const d = DEFAULT_FED_SETTINGS;
  const { steps, batch: batchSize, context, volunteers } = job.sizes;
  return {
    ...d,
    hyper: { ...d.hyper, steps, batchSize, context, lr: job.lr, dataSeed: job.seed, warmupSteps: job.warmupSteps },
    shardCount: volunteers,
    roundMs: ROUND_MS,
    codec: job.codec,
    aggregation: job.aggregation,
    outer: job.outer,
    lrSchedule: job.lrSchedule,
    deltaCodec: job.deltaCodec,
    shareSecondMoment: job.shareSecondMoment,
  };
}

/**
 * The real coordinator with in-memory deps; the volunteers are plain loops that fetch and check the
 * round's weights, have their own CPU trainer (a Node volunteer's, src/volunteer) train H local steps
 * from fresh AdamW state and encode the pseudo-gradient with error feedback, and hand it to
 * coordinator.onUpdate as the update protocol would.
 */
async function runFederated(name: string, ctx: Context, job: FedJob & FederatedSpec, initial: Float32Array) {
  const { volunteers: V, batch: B, context: T, rounds: R } = job.sizes;
  const settings = fedSettings(job);
  const key = await generateKeyPair('Ed25519');
  const peerId = peerIdFromPrivateKey(key);
  // What the seed serves: the newest weights and the round's delta, signed, their pieces in its store.
  const publisher = createWeightsPublisher({ key, model: ctx.layout.config, save: async () => {} });
  const feed = roundFeed();
  const state = freshCoordinatorState(initial.slice());
  const ledger = memoryLedger(key);
  const coordinator = createCoordinator(
    {
      key,
      peerId,
      data: ctx.dataSha,
      publishWeights: (params, label, extras) => publisher.publish(params, label, extras),
      publishRound: (signed, manifest) => feed.publish(signed, manifest),
      isConnected: () => true,
      addressOf: () => undefined,
      evaluate: async (params) => ctx.seedEval(params),
      // Every volunteer here is honest: what verification costs and catches is the Byzantine benchmark's.
      // (A re-execution of an honest volunteer reproduces its v: each reports its own.)
      verify: async (job) =>
        new Map(job.updates.peers.map((peer) => [peer, { accepted: true, secondMoment: reported.get(peer) }])),
      persist: async () => {},
      issueReceipts: (entries) => ledger.issue(entries),
      ledgerRoot: () => ledger.root(),
      recentReceipts: (peer, since) => ledger.recent(peer, since),
      log: (line) => console.log(`  ${name} coordinator: ${line}`),
    },
    settings,
    state,
  );

  const volunteers = Array.from({ length: V }, (_, v) => `volunteer-${v}`);
  // Each volunteer's own trainer, as a Node volunteer runs it: it keeps its error-feedback residual.
  const trainers = new Map<string, Trainer>();
  /** Each volunteer's v after its last round (second-moment.ts's codes). */
  const reported = new Map<string, Uint8Array>();
  for (const v of volunteers) {
    const trainer = createCpuTrainer({ keepOptimizerState: job.keepOptimizerState });
    await trainer.init({ config: ctx.layout.config, batchSize: B, context: T });
    await trainer.loadData(ctx.dataset.train, ctx.dataset.validation);
    trainers.set(v, trainer);
  }
  const roundTraffic = new Map<string, Traffic[]>(volunteers.map((v) => [v, []]));
  /** The weights each volunteer holds from its last round, by manifest id. */
  const held = new Map<string, { id: string; weights: Float32Array }>();
  /**
   * The round's weights as the participant gets them: rebuilt from the volunteer's last ones and the
   * round's delta when it holds those, else whole; checked against the signed manifest either way.
   * `bytes`: the pieces fetched.
   */
  const roundWeights = async (peer: string, m: RoundManifest) => {
    const verified = await verifyManifest(m.weights, peerId);
    const last = held.get(peer);
    const delta = m.delta && (await verifyDeltaManifest(m.delta, peerId));
    let got: { weights: Float32Array; bytes: number };
    if (delta && last && delta.value.from === last.id && delta.value.to === verified.id) {
      const body = await assembleBytes(delta, publisher.store);
      got = { weights: applyRoundDelta(last.weights, body, delta.value.codec), bytes: body.length };
    } else {
      const current = publisher.current();
      if (current.manifest.id !== verified.id) throw new Error(`round ${m.round}: weights ${m.weightsId} not served`);
      got = { weights: current.weights, bytes: verified.value.totalBytes };
    }
    if ((await sha256Hex(new Uint8Array(got.weights.buffer))) !== verified.value.sha256)
      throw new Error(`round ${m.round}: ${peer}'s weights do not match their manifest`);
    held.set(peer, { id: verified.id, weights: got.weights });
    return got;
  };
  try {
    // As on the seed: the run starts (round 0 with nobody assigned), then volunteers join; the first
    // join re-issues round 0, and the others join before it is published, so all are in it.
    await coordinator.start();
    const empty = await feed.next();
    if (Object.keys(empty.manifest.assignments).length !== 0)
      throw new Error('round 0 was published with volunteers before any joined');
    for (const v of volunteers) coordinator.onJoin(v);
    /** The last round's sends, until its receipts can be fetched (once the next round is out). */
    let sent: Omit<VolunteerRound, 'receipts'>[] = [];
    /** As the participant does once a round closed: fetch the receipt, and count the round's bytes. */
    const collectReceipts = async (round: number) => {
      for (const s of sent) {
        const peer = s.peer;
        const receipts = coordinator.receipts(peer, round);
        const [receipt] = receipts.receipts;
        if (!receipt || (await verifyReceipt(receipt, peerId)).value.round !== round)
          throw new Error(`${peer} got no receipt for round ${round}`);
        roundTraffic.get(peer)!.push(volunteerRoundTraffic({ ...s, receipts }));
      }
      sent = [];
    };
    for (let r = 0; r < R; r++) {
      const { signed: roundManifest, manifest: m } = await feed.next();
      if (m.round !== r) throw new Error(`expected round ${r}, the coordinator published round ${m.round}`);
      await collectReceipts(r - 1);
      if (Object.keys(m.assignments).length !== V)
        throw new Error(`round ${r} assigns ${Object.keys(m.assignments).length} volunteers, expected ${V}`);
      // The second moment the round names, fetched as the participant does.
      const moment = m.secondMoment && (await verifyMomentManifest(m.secondMoment, peerId));
      const secondMoment = moment ? await assembleBytes(moment, publisher.store) : undefined;
      const lossesSeen: number[][] = [];
      for (const [peer, shard] of Object.entries(m.assignments)) {
        const got = await roundWeights(peer, m);
        // H local AdamW steps from fresh optimizer state (loadParams resets it), as the participant
        // asks its trainer for them; the trainer encodes the pseudo-gradient with error feedback.
        const trainer = trainers.get(peer)!;
        await trainer.loadParams(got.weights);
        const request = { ...assignmentRequest(m, shard, m.codec, secondMoment), reportSecondMoment: true };
        const trained = await trainer.train(request).catch((e: Error) => {
          throw new Error(`${name}: ${peer} in round ${r}: ${e.message}`);
        });
        const { losses, update } = trained;
        if (trained.secondMoment) reported.set(peer, trained.secondMoment);
        lossesSeen.push(losses);
        const header: UpdateHeader = {
          type: 'update',
          round: m.round,
          weights: m.weightsId,
          bytes: update.length,
          tokens: trained.tokens,
          steps: losses.length,
          lossFirst: losses[0]!,
          lossLast: losses.at(-1)!,
        };
        // As the update service does: admit the header, then hand over the body.
        const refused = coordinator.admit(peer, header);
        if (refused) throw new Error(`${peer}'s update for round ${r} was refused: ${refused}`);
        const outcome = await coordinator.onUpdate(peer, header, update);
        if (outcome.type === 'rejected')
          throw new Error(`${peer}'s update for round ${r} was rejected: ${outcome.reason}`);
        // Error feedback carries over only what the seed took in (as the participant does).
        await trainer.updateAccepted();
        const piecesBytes = got.bytes + (secondMoment?.length ?? 0);
        sent.push({ peer, roundManifest, weightsBytes: piecesBytes, header, update, outcome });
      }
      const mean = (pick: (l: number[]) => number) =>
        fmt(lossesSeen.reduce((s, l) => s + pick(l), 0) / lossesSeen.length);
      console.log(
        `  ${name}: round ${r}: volunteers' mean train loss ${mean((l) => l[0]!)} -> ${mean((l) => l.at(-1)!)}`,
      );
    }
    // The last update closed round R−1; wait until the coordinator has evaluated it and moved on.
    const after = await feed.next();
    await collectReceipts(R - 1);
    if (after.manifest.round !== R || state.history.length !== R + 1)
      throw new Error(
        `after ${R} rounds the coordinator is at round ${after.manifest.round} with ${state.history.length} evaluations`,
      );
  } finally {
    coordinator.stop();
  }
  return {
    params: state.params,
    history: state.history.map((h) => h.valLoss),
    traffic: [...roundTraffic.values()].map(sumTraffic),
  };
}
