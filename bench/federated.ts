// `npm run bench -- federated [--cases …] [--runs seeds]` and `npm run bench -- federated-sweep`: the
// same tokens trained centrally and federated (DiLoCo rounds through the real coordinator) over 8
// simulated volunteers, for several seeds (initial weights and data order). `federated` compares a
// tuned central run with the seed's default setting (federated-default: DEFAULT_FED_SETTINGS, what
// `npm start` runs) and the setting before issue 17 (federated-int8); `federated-sweep` runs every
// other setting tried, one or two knobs from that baseline at a time. Measured, per seed, reported
// as the mean [min–max] over seeds:
//   - val_loss: final mean loss on a fixed validation set; val_loss_ratio: over central's, per seed;
//   - drop_share: (initial − federated) / (initial − central) validation loss, paired by seed;
//   - upload_per_volunteer / download_per_volunteer: bytes over the run as its protocols carry them
//     (bench/lib/fed-traffic.ts): down, each round's signed round manifest (it embeds the weights
//     manifest and the delta's), the fp32 weights or the round's delta, and the receipt; up, each
//     update's header and encoded body;
//   - reduction_vs_ddp: the bytes one worker of synchronous data-parallel training (DDP) over the
//     same 8 workers and the same R·H steps sends, averaging its fp32 gradient with a ring
//     all-reduce each step (2·(N−1)/N·4P bytes each way per step), over a volunteer's upload;
//     reduction_vs_ddp_total: DDP's sent plus received over a volunteer's upload plus download.
// Central is tuned as the federated runs are: lr ×0.5, ×1, ×2 of the inner lr, constant and with a
// warm-up and cosine over the run, on the first seed; the best there runs on every seed and is
// central's figure (tuning on one seed keeps 3 seeds near 15 minutes on 2 cores).
//
// Everything runs in Node on the CPU reference model (no browser, no network, no GPU). Each (seed,
// case, lr) is a job (bench/lib/fed-training.ts) in one of a few child processes, one per core: the
// figures are losses and bytes, not times, so running jobs side by side changes none of them.
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AggregationRule,
  type CodecSettings,
  DEFAULT_FED_SETTINGS,
  denseFp32Bytes,
  type LrSchedule,
  type OuterOptions,
} from '../src/fed';
import { DEFAULT_HYPER, modelPreset, parameterCount, paramLayout } from '../src/model';
import { loadOrCreateData } from '../src/seed/data';
import { EVAL_BATCH_SIZE, EVAL_BATCHES } from '../src/seed/validation';
import { chooseCases } from './lib/cli';
import { ringAllReduceTraffic, type Traffic } from './lib/fed-traffic';
import type { CentralSchedule, FedJob, FedJobResult, FedJobSpec, FedSizes } from './lib/fed-training';
import { runInProcesses } from './lib/processes';
import { type BenchResult, type BenchRow, mean, spreadRows } from './lib/results';

// --- Sizing. The CPU reference takes about 2 ms of CPU per trained token, so a job of SIZES (49,152
// tokens) takes about 100 s of a core alone (more when two share the cores), and 3 seeds of
// `federated` (central's 6 settings on seed 1 and its best on the others, 2 federated cases) 17 jobs.
// 12 rounds of the seed's H = 64 are 768 steps: rows of 8 tokens keep that within the budget.
// (Sweep passes before 2026-12-01 ran 384 steps of 16 tokens, with the same tokens.)
const SIZES: FedSizes = {
  model: 'tiny',
  volunteers: 8,
  /** R rounds of H local steps (DiLoCo's H); a case with another H keeps R·H. */
  rounds: 12,
  steps: 64,
  /** A volunteer's batch: 1 row of 8 tokens, far smaller than the seed's (2 × 64), for speed on the CPU. */
  batch: 1,
  context: 8,
  valBatches: 32,
};
/** Local steps of every run, federated or central: the same tokens for every case. */
const TOTAL_STEPS = SIZES.rounds * SIZES.steps;
/** Seeds 1…SEEDS (initial weights and data order); --runs overrides. */
const SEEDS = 3;
/** Central's learning rates: these multiples of the inner lr the volunteers use. */
const CENTRAL_LR_FACTORS = [0.5, 1, 2];
/** The cosine of schedules: from the lr down to this fraction of it at the end of the run. */
const COSINE_FINAL_FRACTION = 0.1;
/** The warm-up of the cases that have one, in local steps (federated: every round's; central: the run's). */
const WARMUP_STEPS = 4;
const CENTRAL_SCHEDULE: CentralSchedule = { warmupSteps: WARMUP_STEPS, finalFraction: COSINE_FINAL_FRACTION };

/**
 * A federated setting: the baseline (the seed's settings before issue 17) with the knobs a case
 * turns. `steps` is H; the rounds follow from TOTAL_STEPS.
 */
interface FederatedCase {
  kind: 'federated';
  codec: CodecSettings;
  aggregation: AggregationRule;
  outer: OuterOptions;
  /** The inner lr. */
  lr: number;
  steps: number;
  warmupSteps?: number;
  /** A cosine over the run's rounds, from the lr to COSINE_FINAL_FRACTION of it. */
  cosine?: boolean;
  /** Volunteers keep their AdamW moments across rounds, as DiLoCo's workers do (unverifiable). */
  keepOptimizerState?: boolean;
  /** Rounds name AdamW's second moment, the mean of the last round's (FedSettings.shareSecondMoment). */
  shareSecondMoment?: boolean;
  /** Volunteers rebuild each round's weights from the last round's and a delta of this codec. */
  deltaCodec?: CodecSettings;
}

const BASELINE: FederatedCase = {
  kind: 'federated',
  codec: { format: 'int8', blockSize: 256, density: 1 },
  aggregation: 'centered-clip',
  outer: { lr: 0.7, momentum: 0.5, nesterov: true },
  lr: 3e-3,
  steps: 32,
};
const turn = (knobs: Partial<FederatedCase>): FederatedCase => ({ ...BASELINE, ...knobs });
const codec = (format: CodecSettings['format'], density = 1): Partial<FederatedCase> => ({
  codec: { ...BASELINE.codec, format, density },
});
const delta = (format: CodecSettings['format']): Partial<FederatedCase> => ({
  deltaCodec: { ...BASELINE.codec, format },
});

/**
 * The seed's own setting, what `npm start` runs: its codec, aggregation, outer optimiser, inner lr
 * schedule and H. Not its batch and context: the CPU's speed sets the benchmark's (SIZES).
 */
function defaultCase(): FederatedCase {
  const d = DEFAULT_FED_SETTINGS;
  return {
    kind: 'federated',
    codec: d.codec,
    aggregation: d.aggregation,
    outer: d.outer,
    lr: d.hyper.lr,
    steps: d.hyper.steps,
    warmupSteps: d.hyper.warmupSteps,
    cosine: d.lrSchedule !== undefined,
    deltaCodec: d.deltaCodec,
    shareSecondMoment: d.shareSecondMoment,
  };
}

type CaseSpec = { kind: 'central' } | FederatedCase;

const CASES: Record<string, CaseSpec> = {
  central: { kind: 'central' },
  'federated-default': defaultCase(),
  'federated-int8': BASELINE,
  // H, at the same tokens.
  'federated-int8-H4': turn({ steps: 4 }),
  'federated-int8-H8': turn({ steps: 8 }),
  'federated-int8-H16': turn({ steps: 16 }),
  'federated-int8-H64': turn({ steps: 64 }),
  // The aggregation rule: what robustness costs when every volunteer is honest.
  'federated-int8-mean': turn({ aggregation: 'mean' }),
  'federated-int8-trimmed-mean': turn({ aggregation: 'trimmed-mean' }),
  // The inner lr.
  'federated-int8-lr3.75e-4': turn({ lr: 3.75e-4 }),
  'federated-int8-lr7.5e-4': turn({ lr: 7.5e-4 }),
  'federated-int8-lr1.5e-3': turn({ lr: 1.5e-3 }),
  'federated-int8-lr6e-3': turn({ lr: 6e-3 }),
  // The outer optimiser.
  'federated-int8-outer-lr0.5': turn({ outer: { ...BASELINE.outer, lr: 0.5 } }),
  'federated-int8-outer-lr1': turn({ outer: { ...BASELINE.outer, lr: 1 } }),
  'federated-int8-outer-mu0.9': turn({ outer: { ...BASELINE.outer, momentum: 0.9 } }),
  'federated-int8-outer-mu0': turn({ outer: { lr: 1, momentum: 0, nesterov: false } }),
  // The inner lr's schedule.
  'federated-int8-warmup': turn({ warmupSteps: WARMUP_STEPS }),
  'federated-int8-cosine': turn({ cosine: true }),
  'federated-int8-warmup-cosine': turn({ warmupSteps: WARMUP_STEPS, cosine: true }),
  // The volunteers' AdamW state across rounds.
  'federated-int8-keep-adamw': turn({ keepOptimizerState: true }),
  'federated-int8-keep-adamw-lr7.5e-4': turn({ keepOptimizerState: true, lr: 7.5e-4 }),
  // A verifiable substitute for kept moments: the second moment shared through the seed, one byte
  // per block of 16 (fed/second-moment.ts). An earlier pass measured a float mean per parameter and
  // per block of 16, 64, 256 (bench/results/federated-sweep.json, runs 7 and 8).
  'federated-int8-shared-v': turn({ shareSecondMoment: true }),
  'federated-int4-shared-v-delta-int4': turn({ ...codec('int4'), shareSecondMoment: true, ...delta('int4') }),
  'federated-int8-shared-v-lr7.5e-4': turn({ shareSecondMoment: true, lr: 7.5e-4 }),
  'federated-int8-shared-v-H64': turn({ shareSecondMoment: true, steps: 64 }),
  'federated-int4-shared-v-delta-int4-H64': turn({
    ...codec('int4'),
    shareSecondMoment: true,
    ...delta('int4'),
    steps: 64,
  }),
  // Fewer bits and blocks, with error feedback.
  'federated-int4': turn(codec('int4')),
  'federated-int2': turn(codec('int2')),
  'federated-int8-topk25': turn(codec('int8', 0.25)),
  'federated-int4-topk50': turn(codec('int4', 0.5)),
  'federated-int2-topk50': turn(codec('int2', 0.5)),
  'federated-int2-topk25': turn(codec('int2', 0.25)),
  // The download: each round's change instead of the whole weights.
  'federated-int8-delta-int8': turn(delta('int8')),
  'federated-int8-delta-int4': turn(delta('int4')),
  // The verifiable knobs that helped, together.
  'federated-int4-lr7.5e-4-warmup-delta-int8': turn({
    ...codec('int4'),
    lr: 7.5e-4,
    warmupSteps: WARMUP_STEPS,
    ...delta('int8'),
  }),
};
/** What each benchmark runs unless --cases names others. */
const BENCH_CASES = {
  federated: ['central', 'federated-default', 'federated-int8'],
  'federated-sweep': Object.keys(CASES).filter((n) => n !== 'central' && n !== 'federated-default'),
};
export type FederatedBench = keyof typeof BENCH_CASES;

const fmt = (x: number) => x.toFixed(4);
const spread = (values: number[], digits = 4) =>
  `${mean(values).toFixed(digits)} [${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}]`;
const total = (t: Traffic) => t.upload + t.download;
/** A volunteer's figure for a run: the largest over its volunteers (they differ by a few bytes of JSON). */
const busiest = (r: FedJobResult, pick: (t: Traffic) => number) => Math.max(...r.traffic.map(pick));

/** A case's setting in words, for the notes. */
function settingOf(c: FederatedCase): string {
  const { codec: k, outer: o } = c;
  const schedule = [
    c.warmupSteps ? `warm-up ${c.warmupSteps} steps` : '',
    c.cosine ? `cosine to ×${COSINE_FINAL_FRACTION} over the rounds` : '',
  ].filter(Boolean);
  return [
    `${k.format}${k.density < 1 ? ` top-${k.density * 100}% of blocks` : ''}`,
    c.aggregation,
    `H=${c.steps} × ${TOTAL_STEPS / c.steps} rounds`,
    `inner lr ${c.lr} ${schedule.length > 0 ? schedule.join(' and ') : 'constant'}`,
    `outer lr ${o.lr} momentum ${o.momentum}${o.nesterov ? ' Nesterov' : ''}`,
    ...(c.keepOptimizerState ? ['AdamW moments kept across rounds'] : []),
    ...(c.shareSecondMoment
      ? [
          "AdamW v from the mean of the last round's reports, one byte per block of 16 (m from zero, no bias correction)",
        ]
      : []),
    c.deltaCodec
      ? `download: the round's delta in ${c.deltaCodec.format} (whole weights in round 0)`
      : 'download: whole weights',
  ].join(', ');
}

/**
 * One job per (seed, case); central's lrs and schedules on the first seed only (its tuning: the best
 * then runs on the other seeds, tuningFollowUp). The seeds' initial losses first.
 */
function planJobs(names: string[], seeds: number[], runDir: string): FedJob[] {
  const innerLr = DEFAULT_FED_SETTINGS.hyper.lr;
  const specs: [string, FedJobSpec, FedSizes][] = names.flatMap((n): [string, FedJobSpec, FedSizes][] => {
    const c = CASES[n]!;
    if (c.kind === 'central')
      return [undefined, CENTRAL_SCHEDULE].flatMap((schedule) =>
        CENTRAL_LR_FACTORS.map((f): [string, FedJobSpec, FedSizes] => [
          centralLabel(innerLr * f, schedule),
          { kind: 'central', lr: innerLr * f, schedule },
          SIZES,
        ]),
      );
    const rounds = TOTAL_STEPS / c.steps;
    if (!Number.isInteger(rounds)) throw new Error(`${n}: H=${c.steps} does not divide the ${TOTAL_STEPS} steps`);
    const { steps, cosine, ...spec } = c;
    const lrSchedule: LrSchedule | undefined = cosine
      ? { warmupRounds: 0, rounds: rounds - 1, finalFraction: COSINE_FINAL_FRACTION }
      : undefined;
    return [[n, { ...spec, lrSchedule }, { ...SIZES, rounds, steps }]];
  });
  const job = (seed: number, label: string, spec: FedJobSpec, sizes: FedSizes): FedJob => ({
    ...spec,
    label,
    runDir,
    sizes,
    seed,
  });
  return [
    ...seeds.map((s) => job(s, 'initial', { kind: 'initial' }, SIZES)),
    ...seeds.flatMap((s) =>
      specs
        .filter(([, spec]) => spec.kind !== 'central' || s === seeds[0])
        .map(([n, spec, sizes]) => job(s, n, spec, sizes)),
    ),
  ];
}

/** The central setting with the lowest val_loss on the tuning seed (the first), if central ran. */
function bestCentral(jobs: FedJob[], results: FedJobResult[]): FedJob | undefined {
  const tuned = jobs.flatMap((j, i) => (j.kind === 'central' ? [{ j, loss: results[i]!.valLoss }] : []));
  return tuned.length > 0 ? tuned.reduce((b, c) => (c.loss < b.loss ? c : b)).j : undefined;
}

function centralLabel(lr: number, schedule: CentralSchedule | undefined): string {
  return `central lr ${lr}${schedule ? ' warm-up + cosine' : ''}`;
}

export async function runFederatedBench(
  bench: FederatedBench,
  options: { cases?: string[]; runs?: number },
): Promise<BenchResult> {
  const names = chooseCases(bench, options.cases, CASES, BENCH_CASES[bench]);
  const seeds = Array.from({ length: options.runs ?? SEEDS }, (_, i) => i + 1);
  const config = modelPreset(SIZES.model);
  const layout = paramLayout(config);
  const started = performance.now();
  const processes = availableParallelism();
  const runDir = await mkdtemp(join(tmpdir(), 'vgpu-bench-federated-'));
  let jobs: FedJob[];
  let results: FedJobResult[];
  let dataBytes: number;
  try {
    const t0 = performance.now();
    const data = await loadOrCreateData(runDir, config.vocab); // the children read these files
    dataBytes = data.files.train.length + data.files.validation.length;
    console.log(
      `  data: ${data.dataset.train.length} training and ${data.dataset.validation.length} validation tokens (tokenizer trained in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    jobs = planJobs(names, seeds, runDir);
    console.log(`  ${jobs.length} jobs in ${processes} processes`);
    const training = new URL('./lib/fed-training.ts', import.meta.url);
    results = await runInProcesses<FedJob, FedJobResult>(training, 'runFedJob', jobs, processes);
    // Central's best setting on the tuning seed, on the other seeds.
    const best = bestCentral(jobs, results);
    const followUp = best ? seeds.slice(1).map((seed) => ({ ...best, seed })) : [];
    if (followUp.length > 0) {
      console.log(`  central tuned on seed ${seeds[0]}: ${best!.label}; ${followUp.length} more jobs`);
      results.push(...(await runInProcesses<FedJob, FedJobResult>(training, 'runFedJob', followUp, processes)));
      jobs.push(...followUp);
    }
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
  const wallSeconds = (performance.now() - started) / 1000;

  /** Per seed (in seeds' order), the results of the jobs labelled `label`. */
  const bySeed = (label: string) =>
    seeds.map((s) => results[jobs.findIndex((j) => j.seed === s && j.label === label)]!);
  const initial = bySeed('initial').map((r) => r.valLoss);

  // Central: the lr and schedule with the lowest validation loss on the tuning seed, run on every seed.
  const centralRuns = [...new Set(jobs.filter((j) => j.kind === 'central').map((j) => j.label))].map((label) => ({
    label,
    runs: results.filter((_, i) => jobs[i]!.label === label),
  }));
  const bestLabel = bestCentral(jobs, results)?.label;
  const best = centralRuns.find((c) => c.label === bestLabel) && { label: bestLabel!, runs: bySeed(bestLabel!) };

  // DDP over the same workers and steps: one ring all-reduce of the fp32 gradient per step.
  const P = layout.total;
  const ddp = ringAllReduceTraffic(denseFp32Bytes(P) * TOTAL_STEPS, SIZES.volunteers);

  const rows: BenchRow[] = [];
  const report = (c: string, metric: string, values: number[]) =>
    rows.push(...spreadRows(c, 'ours', metric, values, mean));
  const fedCases = names.filter((n) => n !== 'central');
  const valLosses = (runs: FedJobResult[]) => runs.map((r) => r.valLoss);
  if (best) report('central', 'val_loss', valLosses(best.runs));
  for (const n of fedCases) {
    const runs = bySeed(n);
    const upload = runs.map((r) => busiest(r, (t) => t.upload));
    const download = runs.map((r) => busiest(r, (t) => t.download));
    const sum = runs.map((r) => busiest(r, total));
    report(n, 'val_loss', valLosses(runs));
    if (best) {
      report(
        n,
        'val_loss_ratio',
        runs.map((r, i) => r.valLoss / best.runs[i]!.valLoss),
      );
      report(
        n,
        'drop_share',
        runs.map((r, i) => (initial[i]! - r.valLoss) / (initial[i]! - best.runs[i]!.valLoss)),
      );
    }
    report(n, 'upload_per_volunteer', upload);
    report(n, 'download_per_volunteer', download);
    report(
      n,
      'reduction_vs_ddp',
      upload.map((u) => ddp.upload / u),
    );
    report(
      n,
      'reduction_vs_ddp_total',
      sum.map((t) => total(ddp) / t),
    );
  }

  const { volunteers: V, batch: B, context: T } = SIZES;
  const cpuSeconds = results.reduce((s, r) => s + r.cpuSeconds, 0);
  const notes = [
    `cases: ${names.join(', ')}; seeds: ${seeds.length}`,
    `all in Node on the CPU reference model (gptTrainStepCpu / gptForwardCpu), no browser, no network, no GPU; the ${V} volunteers of a federated run are simulated one after another; each (seed, case, lr) is one job, ${jobs.length} jobs run in ${processes} child processes (figures are losses and bytes, not times)`,
    `seeds ${seeds.join(', ')}: seed s sets the initial weights (initParams(layout, s)) and the data order (the round's dataSeed = s) of every case; every figure is the mean [min–max] over seeds`,
    `model: the ${SIZES.model} preset ${JSON.stringify(config)}, ${parameterCount(layout)} parameters, ${P} floats in every gradient and update; trained on sequences of T=${T} tokens (the context stays ${config.context}; T and B are shortened for speed: the seed uses B=${DEFAULT_FED_SETTINGS.hyper.batchSize}, T=${DEFAULT_FED_SETTINGS.hyper.context})`,
    `data: loadOrCreateData (BPE tokenizer trained on the Brown corpus, vocab ${config.vocab}) in a temporary run folder; each volunteer trains on its own of ${V} contiguous shards of the training split, batches drawn from (dataSeed, shard, round·H + step) as the worker does`,
    `budget: ${TOTAL_STEPS} local steps (R rounds × H) × ${V} volunteers × B=${B} × T=${T} = ${TOTAL_STEPS * V * B * T} training tokens for every case, central on exactly the same tokens; val_loss and the ratios hold for this budget only`,
    `inner optimiser (both): AdamW betas ${DEFAULT_HYPER.beta1}/${DEFAULT_HYPER.beta2}, eps ${DEFAULT_HYPER.eps}, weight decay ${DEFAULT_FED_SETTINGS.hyper.weightDecay} (matrices only), grad clip ${DEFAULT_HYPER.gradClip}; federated: fresh AdamW state each round (a volunteer's round is re-executed from the round's weights to verify it, so it can carry no hidden optimiser state), or where the case shares the second moment (the seed's default), v from the one the round names and m from zero; the coordinator's verification here is a stub that accepts every (honest) update and counts each as re-executed, with the v the volunteer reported (what a re-execution reproduces)`,
    `central: one trainer, ${TOTAL_STEPS} steps at batch ${V * B}: step k concatenates the ${V} shards' batches of that step, so its gradient is what DDP over ${V} workers would all-reduce; lr ×${CENTRAL_LR_FACTORS.join(', ×')} the inner lr, each constant and with a ${CENTRAL_SCHEDULE.warmupSteps}-step warm-up and a cosine to ×${COSINE_FINAL_FRACTION} over the run, on the first seed; the lowest there runs on every seed and is reported as central (selected on the same validation set it is reported on, which can only favour central)`,
    `federated: the real coordinator (createCoordinator) with in-memory deps: weights manifests built, signed with a fresh Ed25519 key and verified (volunteers check the weights' sha256), every update decoded, validated and receipted; updates by compressWithFeedback (blockSize ${BASELINE.codec.blockSize}), error feedback per volunteer across rounds; roundMs raised so the deadline never cuts a simulated round`,
    `val_loss: mean loss on ${SIZES.valBatches} fixed batches of ${EVAL_BATCH_SIZE}×${T} = ${SIZES.valBatches * EVAL_BATCH_SIZE * T} tokens spread evenly over the validation split (dataset.evalBatches); the per-round losses below are the seed's own evaluation (${EVAL_BATCHES} batches, ${EVAL_BATCHES * EVAL_BATCH_SIZE * T} tokens); initial val_loss ${spread(initial)} (ln ${config.vocab} = ${fmt(Math.log(config.vocab))})`,
    `val_loss_ratio = the case's val_loss / central's, and drop_share = (initial val_loss − the case's) / (initial val_loss − central's), both per seed with central's selected lr and schedule`,
    `bytes per volunteer: the sum over its rounds of, down, the signed round manifest as JSON (it embeds the signed weights manifest, and the delta's), the fp32 weights (the manifest's totalBytes, ${4 * P} B) or, in a case with deltas, the round's delta from round 1 on (every volunteer holds the last round's weights), and the signed receipt, and, up, the update header (JSON) and the encoded update; the figure is the busiest volunteer's. Not counted: protocol control messages (join, the seed's go-ahead before an update's body), length prefixes, piece requests and status bytes, yamux, Noise and transport overhead, repeated /round.json polls and gossip copies of the round manifest (a real tab polls every 2 s while training), the app, and the token files (train + validation, ${dataBytes} B, fetched once per volunteer and cached)`,
    `DDP: ${V} workers, ${TOTAL_STEPS} steps (the same tokens), one ring all-reduce of the fp32 gradient per step: each worker sends 2·(N−1)/N·4P bytes and receives as much per step, N=${V}, P=${P}: ${ddp.upload} B sent and as many received over the run; DDP's initial weights and data are not counted. DDP's bytes are per step and a volunteer's per round, so at the same R·H both reductions grow in proportion to H`,
  ];
  for (const n of fedCases) notes.push(`${n}: ${settingOf(CASES[n] as FederatedCase)}`);
  for (const c of centralRuns)
    notes.push(
      `${c.label}: val_loss ${spread(c.runs.map((r) => r.valLoss))} over ${c.runs.length} seed(s)${c.label === bestLabel ? ' <- lowest on the tuning seed, run on every seed and reported as central' : ''}`,
    );
  const curve = (runs: FedJobResult[]) =>
    runs[0]!.history.map((_, k) => fmt(mean(runs.map((r) => r.history[k]!)))).join(' -> ');
  if (best)
    notes.push(`central (${best.label}): seed's validation loss by round (mean over seeds) ${curve(best.runs)}`);
  for (const n of fedCases) notes.push(`${n}: seed's validation loss by round (mean over seeds) ${curve(bySeed(n))}`);
  notes.push(
    `--runs sets the number of seeds; time: ${wallSeconds.toFixed(0)} s wall, ${cpuSeconds.toFixed(0)} s of job CPU time in ${processes} processes`,
  );
  return { adapter: { description: 'none: CPU reference model in Node (no GPU)' }, rows, notes };
}
