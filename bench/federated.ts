// `npm run bench -- federated`: the same token budget trained centrally and federated (DiLoCo
// rounds through the real coordinator) over 4 simulated volunteers, with fp32 and with int8
// updates. Reports the final validation loss, the bytes each volunteer uploads, and how many times
// fewer that is than synchronous data-parallel training (DDP) for the same steps would upload.
//
// Everything runs in this Node process on the CPU reference model (no browser, no network, no
// GPU): the volunteers are plain loops calling gptTrainStepCpu one after the other, their updates
// go to coordinator.onUpdate as the update protocol would deliver them, and the coordinator's
// deps are in-memory fakes (weights manifests are really built, signed and verified).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { Batch, TokenDataset } from '../src/data';
import {
  type CoordinatorState,
  compressWithFeedback,
  createCoordinator,
  DEFAULT_FED_SETTINGS,
  ddpBytes,
  type FedSettings,
  type OuterOptions,
  type RoundManifest,
  type UpdateFormat,
  type UpdateHeader,
  verifyReceipt,
} from '../src/fed';
import {
  DEFAULT_HYPER,
  type GptCpuTrainState,
  gptTrainStepCpu,
  initParams,
  modelPreset,
  type ParamLayout,
  parameterCount,
  paramLayout,
  type TrainHyper,
} from '../src/model';
import { loadOrCreateData } from '../src/seed/data';
import { EVAL_BATCH_SIZE, EVAL_BATCHES, validationLoss } from '../src/seed/validation';
import {
  buildManifest,
  type SignedDocument,
  sha256Hex,
  signManifest,
  type VerifiedManifest,
  verifyManifest,
} from '../src/swarm';
import type { BenchResult, BenchRow } from './lib/results';

// --- Sizing: measured on a 2-core machine, the CPU reference takes ~0.2 s per step at B=2, T=32
// and ~0.9 s at B=8, so each federated case is ~3 min and the central one ~3 min. The run's
// settings are the seed's (DEFAULT_FED_SETTINGS); the benchmark overrides only what it must.
const MODEL = 'tiny';
const VOLUNTEERS = 4;
/** Per-volunteer batch (rows) and sequence length of a local step: smaller than the seed's, for speed on the CPU. */
const B = 2;
const T = 32;
/** Local steps per round (DiLoCo's H) and rounds (R): more steps than the seed's, fewer rounds, the same idea. */
const H = 50;
const R = 4;
/** The worker's AdamW with the round's lr and weight decay, as a volunteer trains. */
const INNER: TrainHyper = {
  ...DEFAULT_HYPER,
  lr: DEFAULT_FED_SETTINGS.hyper.lr,
  weightDecay: DEFAULT_FED_SETTINGS.hyper.weightDecay,
};
const INIT_SEED = 1;
/** Simulated volunteers train one after another on one thread; the deadline must not cut a round short. */
const ROUND_MS = 3_600_000;

interface FedCase {
  kind: 'federated';
  format: UpdateFormat;
  /** undefined: DEFAULT_FED_SETTINGS.outer. */
  outer?: OuterOptions;
}
type CaseSpec = { kind: 'central' } | FedCase;

/** Default cases, then the alternative outer settings (opt-in with --cases, reported under their own names). */
const CASES: Record<string, CaseSpec> = {
  central: { kind: 'central' },
  'federated-fp32': { kind: 'federated', format: 'fp32' },
  'federated-int8': { kind: 'federated', format: 'int8' },
  'federated-int8-outer-lr0.7-mu0.9': {
    kind: 'federated',
    format: 'int8',
    outer: { lr: 0.7, momentum: 0.9, nesterov: true },
  },
  'federated-int8-outer-lr1-mu0': { kind: 'federated', format: 'int8', outer: { lr: 1, momentum: 0, nesterov: false } },
};
const DEFAULT_CASES = ['central', 'federated-fp32', 'federated-int8'];

interface CaseResult {
  valLoss: number;
  /** Validation loss after 0, H, 2H, … steps. */
  history: number[];
  bytesPerVolunteer: number;
  seconds: number;
}

interface Context {
  layout: ParamLayout;
  dataset: TokenDataset;
  dataSha: { train: string; validation: string };
  initial: Float32Array;
  evaluate(params: Float32Array): number;
}

const fmt = (x: number) => x.toFixed(4);

/**
 * The seed's settings, with the benchmark's sizes (H, B, T), one shard per volunteer (the central
 * case trains on exactly those shards), a deadline that never cuts a simulated round, and the case's
 * update format (dense: density 1) and outer optimiser.
 */
function fedSettings(c: FedCase): FedSettings {
  const d = DEFAULT_FED_SETTINGS;
  return {
    ...d,
    hyper: { ...d.hyper, steps: H, batchSize: B, context: T },
    shardCount: VOLUNTEERS,
    roundMs: ROUND_MS,
    codec: { ...d.codec, format: c.format, density: 1 },
    outer: c.outer ?? d.outer,
  };
}

/** The batch volunteer-shard `shard` trains on at local step `i` of round `round` (the worker's rule). */
function shardBatch(dataset: TokenDataset, round: number, i: number, shard: number): Batch {
  return dataset.batch('train', {
    batchSize: B,
    context: T,
    seed: DEFAULT_FED_SETTINGS.hyper.dataSeed,
    shard,
    shardCount: VOLUNTEERS,
    step: round * H + i,
  });
}

function freshState(params: Float32Array): GptCpuTrainState {
  return { params, m: new Float32Array(params.length), v: new Float32Array(params.length), step: 0 };
}

/**
 * One trainer, R·H AdamW steps at batch VOLUNTEERS·B: step k of round r concatenates the batches
 * the VOLUNTEERS shards draw at that step, i.e. exactly the tokens the federated runs see, as DDP
 * over the same workers would (the mean loss of the concatenation is the mean of their losses).
 */
function runCentral(ctx: Context): CaseResult {
  const started = performance.now();
  const state = freshState(ctx.initial.slice());
  const history = [ctx.evaluate(state.params)];
  console.log(`  central: initial validation loss ${fmt(history[0]!)}`);
  const rows = VOLUNTEERS * B;
  for (let r = 0; r < R; r++) {
    const t0 = performance.now();
    let first = NaN;
    let last = NaN;
    for (let i = 0; i < H; i++) {
      const inputs = new Uint32Array(rows * T);
      const targets = new Uint32Array(rows * T);
      for (let s = 0; s < VOLUNTEERS; s++) {
        const b = shardBatch(ctx.dataset, r, i, s);
        inputs.set(b.inputs, s * B * T);
        targets.set(b.targets, s * B * T);
      }
      const { loss } = gptTrainStepCpu(ctx.layout, state, { inputs, targets, B: rows, T }, INNER);
      if (!Number.isFinite(loss)) throw new Error(`central diverged: loss ${loss} at step ${r * H + i}`);
      if (i === 0) first = loss;
      last = loss;
    }
    history.push(ctx.evaluate(state.params));
    console.log(
      `  central: steps ${r * H + 1}-${(r + 1) * H} train loss ${fmt(first)} -> ${fmt(last)}, validation ${fmt(history.at(-1)!)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
  }
  return { valLoss: history.at(-1)!, history, bytesPerVolunteer: 0, seconds: (performance.now() - started) / 1000 };
}

/** Resolves with each round manifest the coordinator publishes, in order. */
function roundFeed(): { publish(m: RoundManifest): void; next(): Promise<RoundManifest> } {
  const queue: RoundManifest[] = [];
  let wake: (() => void) | undefined;
  return {
    publish(m) {
      queue.push(m);
      wake?.();
    },
    async next() {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return queue.shift()!;
    },
  };
}

async function runFederated(name: string, c: FedCase, ctx: Context): Promise<CaseResult> {
  const started = performance.now();
  const settings = fedSettings(c);
  const key = await generateKeyPair('Ed25519');
  const peerId = peerIdFromPrivateKey(key);
  // What the seed would serve: weights by manifest id (a copy; the coordinator updates params in place).
  const served = new Map<string, { manifest: VerifiedManifest; weights: Float32Array }>();
  const feed = roundFeed();
  const state: CoordinatorState = {
    round: 0,
    params: ctx.initial.slice(),
    momentum: new Float32Array(ctx.layout.total),
    history: [],
    tokens: 0,
    acceptedUpdates: 0,
    rejectedUpdates: 0,
    receipts: [],
  };
  const coordinator = createCoordinator(
    {
      key,
      peerId,
      data: ctx.dataSha,
      async publishWeights(params, label) {
        const weights = params.slice();
        const manifest = await verifyManifest(
          await signManifest(key, peerId, await buildManifest(weights, label, ctx.layout.config)),
          peerId,
        );
        served.set(manifest.id, { manifest, weights });
        return manifest;
      },
      publishRound: (_signed: SignedDocument, round) => feed.publish(round),
      isConnected: () => true,
      evaluate: async (params) => ctx.evaluate(params),
      persist: async () => {},
      log: (line) => console.log(`  ${name} coordinator: ${line}`),
    },
    settings,
    state,
  );

  const volunteers = Array.from({ length: VOLUNTEERS }, (_, v) => `volunteer-${v}`);
  const residuals = new Map<string, Float32Array>();
  const sent = new Map<string, number>(volunteers.map((v) => [v, 0]));
  try {
    // As on the seed: the run starts (round 0 with nobody assigned), then volunteers join; the first
    // join re-issues round 0, and the others join before it is published, so all are in it.
    await coordinator.start();
    const empty = await feed.next();
    if (Object.keys(empty.assignments).length !== 0)
      throw new Error('round 0 was published with volunteers before any joined');
    for (const v of volunteers) coordinator.onJoin(v);
    for (let r = 0; r < R; r++) {
      const m = await feed.next();
      if (m.round !== r) throw new Error(`expected round ${r}, the coordinator published round ${m.round}`);
      if (Object.keys(m.assignments).length !== VOLUNTEERS)
        throw new Error(`round ${r} assigns ${Object.keys(m.assignments).length} volunteers, expected ${VOLUNTEERS}`);
      for (const [peer, shard] of Object.entries(m.assignments)) {
        const t0 = performance.now();
        // Fetch and check the round's weights as a tab would.
        const verified = await verifyManifest(m.weights, peerId);
        const got = served.get(m.weightsId);
        if (!got || verified.id !== m.weightsId) throw new Error(`round ${r}: weights ${m.weightsId} not served`);
        if ((await sha256Hex(new Uint8Array(got.weights.buffer))) !== verified.value.sha256)
          throw new Error(`round ${r}: weights do not match their manifest`);
        const start = got.weights.slice();
        // H local AdamW steps from fresh optimizer state (the worker resets it on loadParams).
        const local = freshState(start.slice());
        const losses: number[] = [];
        for (let i = 0; i < m.hyper.steps; i++) {
          const b = shardBatch(ctx.dataset, m.round, i, shard);
          const { loss } = gptTrainStepCpu(ctx.layout, local, { ...b, B, T }, INNER);
          if (!Number.isFinite(loss))
            throw new Error(`${peer} diverged in round ${r}: loss ${loss} at local step ${i}`);
          losses.push(loss);
        }
        const pseudoGradient = new Float32Array(start.length);
        for (let j = 0; j < start.length; j++) pseudoGradient[j] = start[j]! - local.params[j]!;
        const compressed = compressWithFeedback(pseudoGradient, residuals.get(peer), m.codec);
        const header: UpdateHeader = {
          type: 'update',
          round: m.round,
          weights: m.weightsId,
          tokens: losses.length * B * T,
          steps: losses.length,
          lossFirst: losses[0]!,
          lossLast: losses.at(-1)!,
        };
        const receipt = await verifyReceipt(await coordinator.onUpdate(peer, header, compressed.bytes), peerId);
        if (!receipt.value.accepted)
          throw new Error(`${peer}'s update for round ${r} was rejected: ${receipt.value.reason ?? '?'}`);
        // Error feedback carries over only what the seed took in (as the participant does).
        residuals.set(peer, compressed.residual);
        sent.set(peer, sent.get(peer)! + compressed.bytes.length);
        console.log(
          `  ${name}: round ${r} ${peer} shard ${shard}: train loss ${fmt(losses[0]!)} -> ${fmt(losses.at(-1)!)}, sent ${compressed.bytes.length} B (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
        );
      }
    }
    // The last update closed round R−1; wait until the coordinator has evaluated it and moved on.
    const after = await feed.next();
    if (after.round !== R || state.history.length !== R + 1)
      throw new Error(
        `after ${R} rounds the coordinator is at round ${after.round} with ${state.history.length} evaluations`,
      );
  } finally {
    coordinator.stop();
  }
  const bytes = [...sent.values()];
  if (bytes.some((b) => b !== bytes[0]))
    console.log(`  ${name}: volunteers sent different byte counts: ${bytes.join(', ')}`);
  const history = state.history.map((h) => h.valLoss);
  return {
    valLoss: history.at(-1)!,
    history,
    bytesPerVolunteer: Math.max(...bytes),
    seconds: (performance.now() - started) / 1000,
  };
}

export async function runFederatedBench(_pageBase: string, options: { cases?: string[] }): Promise<BenchResult> {
  const names = options.cases ?? DEFAULT_CASES;
  for (const n of names)
    if (!(n in CASES)) throw new Error(`unknown case ${n}; known: ${Object.keys(CASES).join(', ')}`);
  const config = modelPreset(MODEL);
  const layout = paramLayout(config);
  const runDir = await mkdtemp(join(tmpdir(), 'vgpu-bench-federated-'));
  const results = new Map<string, CaseResult>();
  let initialLoss = NaN;
  try {
    const t0 = performance.now();
    const data = await loadOrCreateData(runDir, config.vocab);
    console.log(
      `  data: ${data.dataset.train.length} training and ${data.dataset.validation.length} validation tokens (tokenizer trained in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    const ctx: Context = {
      layout,
      dataset: data.dataset,
      dataSha: data.sha256,
      initial: initParams(layout, INIT_SEED),
      evaluate: validationLoss(config, data.dataset, T),
    };
    initialLoss = ctx.evaluate(ctx.initial);
    for (const n of names) {
      const spec = CASES[n]!;
      console.log(`case ${n}`);
      const result = spec.kind === 'central' ? runCentral(ctx) : await runFederated(n, spec, ctx);
      console.log(
        `  ${n}: validation loss ${fmt(result.valLoss)}, ${result.bytesPerVolunteer} B per volunteer, ${result.seconds.toFixed(0)} s`,
      );
      results.set(n, result);
    }
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }

  const length = layout.total;
  const ddp = ddpBytes(length, R * H);
  const rows: BenchRow[] = [];
  for (const [n, r] of results) {
    rows.push({ case: n, impl: 'ours', metric: 'val_loss', value: r.valLoss });
    rows.push({ case: n, impl: 'ours', metric: 'bytes_per_volunteer', value: r.bytesPerVolunteer });
    if (r.bytesPerVolunteer > 0)
      rows.push({ case: n, impl: 'ours', metric: 'reduction_vs_ddp', value: ddp / r.bytesPerVolunteer });
  }

  const central = results.get('central');
  const outer = DEFAULT_FED_SETTINGS.outer;
  const notes = [
    `all in one Node process on the CPU reference model (gptTrainStepCpu / gptForwardCpu), no browser, no network, no GPU; the ${VOLUNTEERS} volunteers are simulated one after another`,
    `model: the ${MODEL} preset ${JSON.stringify(config)}, ${parameterCount(layout)} parameters (${length} floats with alignment padding, the length of every update); trained on sequences of T=${T} tokens (the context stays ${config.context}; T is shortened for speed)`,
    `data: loadOrCreateData (BPE tokenizer trained on the Brown corpus, vocab ${config.vocab}) in a temporary run folder; each volunteer trains on its own of ${VOLUNTEERS} contiguous shards of the training split, batches drawn from (dataSeed, shard, round·H + step) as the worker does`,
    `budget: ${R} rounds × H=${H} local steps × ${VOLUNTEERS} volunteers × B=${B} × T=${T} = ${R * H * VOLUNTEERS * B * T} training tokens for every case`,
    `inner optimiser (both): AdamW lr ${INNER.lr}, betas ${INNER.beta1}/${INNER.beta2}, eps ${INNER.eps}, weight decay ${INNER.weightDecay} (matrices only), grad clip ${INNER.gradClip}, constant lr; federated volunteers start each round from fresh AdamW state`,
    `central: one trainer, ${R * H} steps at batch ${VOLUNTEERS * B}: step k concatenates the ${VOLUNTEERS} shards' batches of that step, so it sees exactly the federated runs' tokens (= DDP over ${VOLUNTEERS} workers); bytes_per_volunteer 0, no reduction row`,
    `federated: the real coordinator (createCoordinator) with in-memory deps: weights manifests built, signed with a fresh Ed25519 key and verified (volunteers check the weights' sha256), every update decoded, validated and receipted by the coordinator; aggregation and outer optimiser from DEFAULT_FED_SETTINGS: ${DEFAULT_FED_SETTINGS.aggregation}, outer lr ${outer.lr} momentum ${outer.momentum}${outer.nesterov ? ' Nesterov' : ''}; roundMs raised to ${ROUND_MS / 1000} s so the deadline never cuts a simulated round; the round's hyper set to the sizes above`,
    `updates: compressWithFeedback, blockSize ${DEFAULT_FED_SETTINGS.codec.blockSize}, density 1, error feedback per volunteer across rounds; bytes_per_volunteer = the sum of the ${R} encoded updates one volunteer sent (upload only; downloads of the weights not counted)`,
    `reduction_vs_ddp = ddpBytes(${length}, ${R * H}) = ${ddp} B (one dense fp32 gradient per step per worker for the same ${R * H} steps) / bytes_per_volunteer; fp32 updates can at most reach H = ${H}× by construction, int8 about 4H`,
    `validation: mean loss on ${EVAL_BATCHES} fixed batches of ${EVAL_BATCH_SIZE}×${T} tokens spread over the validation split (the seed's evaluation); initial validation loss ${fmt(initialLoss)} (ln ${config.vocab} = ${fmt(Math.log(config.vocab))})`,
  ];
  for (const [n, r] of results)
    notes.push(`${n}: validation loss by round ${r.history.map(fmt).join(' -> ')}; ${r.seconds.toFixed(0)} s`);
  if (central) {
    for (const [n, r] of results) {
      if (n === 'central') continue;
      const gap = (r.valLoss - central.valLoss) / central.valLoss;
      const progress = (initialLoss - r.valLoss) / (initialLoss - central.valLoss);
      notes.push(
        `${n}: val_loss ${(gap * 100).toFixed(1)}% ${gap >= 0 ? 'above' : 'below'} central (${Math.abs(gap) <= 0.1 ? 'within' : 'NOT within'} the 10% target); it achieved ${(progress * 100).toFixed(0)}% of central's drop from the initial loss; ${r.bytesPerVolunteer > 0 ? `${(ddp / r.bytesPerVolunteer).toFixed(0)}× less upload than DDP (${ddp / r.bytesPerVolunteer >= 100 ? 'meets' : 'misses'} the 100× target)` : ''}`,
      );
    }
  }
  if (options.cases === undefined)
    notes.push(
      `alternative outer settings run only when named in --cases: ${Object.keys(CASES)
        .filter((n) => !DEFAULT_CASES.includes(n))
        .join(', ')}`,
    );
  notes.push('--runs is ignored: one run per case (training is deterministic given the seeds)');
  return { adapter: { description: 'none: CPU reference model in Node (no GPU)' }, rows, notes };
}
