// Browser-side half of the GPU-vs-CPU divergence test: the GPU trainer (in its worker, as the tab
// runs it) and the CPU reference trainer (src/volunteer, in the page) train the same steps from the
// same weights on the same batches; then the seed's re-execution check runs on the GPU's update.
import { TokenDataset } from '../../src/data';
import {
  assignmentRequest,
  type CodecSettings,
  compressWithFeedback,
  decodeUpdate,
  encodeUpdate,
  l2Norm,
  type ReexecutionCheck,
  type RoundTerms,
  reexecute,
} from '../../src/fed';
import { type GptConfig, initParams, paramLayout } from '../../src/model';
import { startTrainerWorker } from '../../src/tab';
import type { Trainer } from '../../src/trainer';
import { createCpuTrainer } from '../../src/volunteer/cpu-trainer';

export interface DivergenceCase {
  config: GptConfig;
  /** The round: its hyper-parameters, codec and the one volunteer's assignment. */
  manifest: RoundTerms;
  peer: string;
  /** Local steps after which the pseudo-gradients are compared; the last is the round's H. */
  checkpoints: number[];
  weightsSeed: number;
  /**
   * The round names a second moment (fed/second-moment.ts): the v a fresh CPU round of the same
   * assignment reported, which both trainers (and the re-execution) then start from.
   */
  fromSecondMoment?: boolean;
  train: number[];
  validation: number[];
}

export interface DivergenceRow {
  steps: number;
  /** ‖Δ_gpu − Δ_cpu‖ / ‖Δ_cpu‖ of the dense pseudo-gradients, and of their int8 encodings. */
  dense: number;
  int8: number;
  norm: number;
}

export interface DivergenceResult {
  parameters: number;
  rows: DivergenceRow[];
  /** The seed's re-execution of the GPU's update, sent with an error-feedback residual carried in. */
  reexecution: ReexecutionCheck;
  gpuMs: number;
  cpuMs: number;
}

const relativeDistance = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s) / l2Norm(b);
};

const int8 = (v: Float32Array, codec: CodecSettings) => decodeUpdate(encodeUpdate(v, codec), v.length);

/** Trains `steps` more steps of the round and returns the pseudo-gradient so far (start − now) and the time. */
async function trainTo(
  trainer: Trainer,
  c: DivergenceCase,
  start: Float32Array,
  done: number,
  steps: number,
  secondMoment?: Uint8Array,
) {
  const { hyper, shardCount, round } = c.manifest;
  const t0 = performance.now();
  await trainer.train({
    // The round's second moment starts its first step only (a later call continues the optimiser).
    ...(secondMoment && done === 0 ? { secondMoment } : {}),
    steps,
    hyper: { lr: hyper.lr, weightDecay: hyper.weightDecay },
    seed: hyper.dataSeed,
    shard: c.manifest.assignments[c.peer],
    shardCount,
    firstStep: round * hyper.steps + done,
    codec: { format: 'fp32', blockSize: c.manifest.codec.blockSize, density: 1 },
  });
  const ms = performance.now() - t0;
  const now = await trainer.readParams();
  return { delta: start.map((x, i) => x - now[i]!), ms };
}

export async function gpuCpuDivergence(c: DivergenceCase): Promise<DivergenceResult> {
  const layout = paramLayout(c.config);
  const { batchSize, context } = c.manifest.hyper;
  const start = initParams(layout, c.weightsSeed);
  const train = Uint32Array.from(c.train);
  const validation = Uint32Array.from(c.validation);
  const gpu = startTrainerWorker();
  const cpu = createCpuTrainer();
  try {
    for (const t of [gpu, cpu]) {
      await t.init({ config: c.config, batchSize, context });
      await t.loadData(train, validation);
      await t.loadParams(start);
    }
    let secondMoment: Uint8Array | undefined;
    if (c.fromSecondMoment) {
      const request = assignmentRequest(c.manifest, c.manifest.assignments[c.peer]!);
      secondMoment = (await cpu.train({ ...request, reportSecondMoment: true })).secondMoment;
      await cpu.loadParams(start);
    }
    const rows: DivergenceRow[] = [];
    let done = 0;
    let gpuMs = 0;
    let cpuMs = 0;
    let last: Float32Array | undefined;
    for (const steps of c.checkpoints) {
      const g = await trainTo(gpu, c, start, done, steps - done, secondMoment);
      const r = await trainTo(cpu, c, start, done, steps - done, secondMoment);
      gpuMs += g.ms;
      cpuMs += r.ms;
      done = steps;
      rows.push({
        steps,
        dense: relativeDistance(g.delta, r.delta),
        int8: relativeDistance(int8(g.delta, c.manifest.codec), int8(r.delta, c.manifest.codec)),
        norm: l2Norm(r.delta),
      });
      last = g.delta;
    }
    if (!last || done !== c.manifest.hyper.steps)
      throw new Error(`the checkpoints must end at H = ${c.manifest.hyper.steps}`);
    // The volunteer's update as the GPU trainer encodes it in a later round: with the residual of an
    // earlier one carried in (this round's own rounding error stands in for the last round's).
    const { residual } = compressWithFeedback(last, undefined, c.manifest.codec);
    const sent = compressWithFeedback(last, residual, c.manifest.codec).bytes;
    const work = { layout, manifest: c.manifest, start, dataset: new TokenDataset(train, validation), secondMoment };
    const reexecution = await reexecute(work, c.peer, decodeUpdate(sent, start.length), createCpuTrainer);
    return { parameters: layout.total, rows, reexecution, gpuMs, cpuMs };
  } finally {
    gpu.terminate();
  }
}
