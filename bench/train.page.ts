// `npm run bench -- train`: one full training step (forward, backward, optimiser) of our GPU GPT
// against the same model built from TensorFlow.js ops on its WebGPU backend, same page, same adapter,
// same init, same fixed batch. Reports tokens/s, nominal GFLOPS and how busy the GPU is during a step.

import type { Scalar } from '@tensorflow/tfjs-core';
import { acquireGpu } from '../src/gpu';
import {
  DEFAULT_HYPER,
  initParams,
  nominalTrainFlops,
  parameterCount,
  paramLayout,
  type TrainHyper,
} from '../src/model';
import { createGpuGpt } from '../src/model/gpu-gpt';
import { createRandom } from '../src/util/random';
import { loadTf } from './lib/peers';
import type { BenchResult, BenchRow } from './lib/results';
import { createTfGpt, type TfAdam } from './lib/tfjs-gpt';
import { isSoftwareAdapter, medianMs, type TimingPlan } from './lib/timing';

export interface TrainBenchOptions {
  cases?: string[];
  runs?: number;
}

const VOCAB = 1024;
/** Width 128 → 4 heads, 256 → 8 heads: head dimension 32 for both. */
const HEAD_DIM = 32;
const LR = 1e-3;
/** Ours: AdamW with weight decay 0.1 and global-norm clipping at 1, as we train. */
const OURS_HYPER: TrainHyper = { ...DEFAULT_HYPER, lr: LR };
/** tfjs: plain Adam, same learning rate, betas and epsilon. */
const TF_ADAM: TfAdam = { lr: LR, beta1: DEFAULT_HYPER.beta1, beta2: DEFAULT_HYPER.beta2, eps: DEFAULT_HYPER.eps };

interface TrainConfig {
  layers: number;
  width: number;
}

function randomTokens(n: number, vocab: number, seed: number): Uint32Array {
  const next = createRandom(seed);
  return Uint32Array.from({ length: n }, () => Math.floor(next() * vocab));
}

const losses = (xs: number[]) => xs.map((x) => x.toFixed(4)).join(' ');

export async function run(options: TrainBenchOptions = {}): Promise<BenchResult> {
  const gpu = await acquireGpu();
  const software = isSoftwareAdapter(gpu.adapter);
  const { tf, idle: tfIdle } = await loadTf();
  const tfDevice = (tf.backend() as unknown as { device: GPUDevice }).device;
  const tfTimestamps = tfDevice.features.has('timestamp-query');
  // A software adapter (SwiftShader on 2 CPU cores) runs smaller batches and models so the run takes minutes.
  const { B, T } = software ? { B: 2, T: 64 } : { B: 8, T: 128 };
  const configs: TrainConfig[] = software
    ? [
        { layers: 2, width: 64 },
        { layers: 4, width: 128 },
      ]
    : [
        { layers: 4, width: 128 },
        { layers: 6, width: 256 },
      ];
  const plan: TimingPlan = { warmup: 2, runs: Math.max(5, options.runs ?? 5) };
  const notes = [
    `B=${B} T=${T} (context ${T}), vocab ${VOCAB}, head dim ${HEAD_DIM} (heads = width/${HEAD_DIM}); case LxC = layers × width`,
    `timing: ${plan.warmup} warm-up steps, median of ${plan.runs} timed steps, each to queue completion with the loss read back; same init (initParams seed 1) and the same fixed random batch every step`,
    `ours: AdamW lr ${LR}, betas ${OURS_HYPER.beta1}/${OURS_HYPER.beta2}, weight decay ${OURS_HYPER.weightDecay}, global-norm clip ${OURS_HYPER.gradClip}; tfjs-webgpu: tf.train.adam with the same lr/betas/eps, no weight decay, no clipping (tfjs has neither built in)`,
    'tfjs model: tf ops (gather embedding, tf.moments LayerNorm, batched tf.matMul attention with a −1e9 causal mask and tf.softmax, tanh GELU, tied head, tf.losses.softmaxCrossEntropy), gradients by optimizer.minimize',
    'gflops: one nominal count for both impls, 6·(parameters without wpe)·tokens + causal attention 6·layers·T·C·tokens, over the median step time',
    "gpu_busy_fraction: summed per-dispatch GPU time from timestamp queries in one extra profiled step (ours: profile.totalNs; tfjs: tf.time kernelMs) / the median unprofiled step time (tf.time's own wall time is not used: it submits and reads back after every dispatch)",
  ];
  if (software) {
    notes.push(
      `software adapter: B=${B} T=${T} and models 2x64, 4x128 instead of B=8 T=128 and 4x128, 6x256`,
      'software adapter: gpu_busy_fraction means little here: the emulated GPU runs on the same 2 CPU cores as the page, and a profiled step ' +
        '(one pass per dispatch) runs slower than an unprofiled one, so the summed dispatch time can exceed the unprofiled step (values > 1)',
    );
  }
  /** The profiled step's own wall time next to its summed dispatch time, so a reader can judge the busy fraction. */
  const profiledNote = (name: string, impl: string, dispatches: number, wallMs: number, kernelMs: number) => {
    const text = `${name} ${impl}: ${dispatches} dispatches per step; profiled step ${wallMs.toFixed(1)} ms wall, ${kernelMs.toFixed(1)} ms in dispatches`;
    console.log(text);
    notes.push(text);
  };
  const rows: BenchRow[] = [];

  for (const { layers, width } of configs) {
    const name = software ? `${layers}x${width} (B=${B}, T=${T})` : `${layers}x${width}`;
    if (options.cases?.length && !options.cases.some((c) => name.startsWith(c))) continue;
    const layout = paramLayout({ vocab: VOCAB, context: T, layers, heads: width / HEAD_DIM, width });
    const init = initParams(layout, 1);
    const tokens = randomTokens(B * T + 1, VOCAB, 7);
    const inputs = tokens.subarray(0, B * T);
    const targets = tokens.subarray(1);
    const flops = nominalTrainFlops(layout, T, B * T);
    console.log(
      `${name}: ${parameterCount(layout)} parameters, ${(flops / 1e9).toFixed(3)} GFLOP per step, ln(vocab) = ${Math.log(VOCAB).toFixed(4)}`,
    );
    const record = (impl: string, ms: number, busy: number | undefined, lossList: number[]) => {
      rows.push({ case: name, impl, metric: 'tokens_per_s', value: (B * T) / (ms / 1000) });
      rows.push({ case: name, impl, metric: 'gflops', value: flops / (ms * 1e6) });
      if (busy !== undefined) rows.push({ case: name, impl, metric: 'gpu_busy_fraction', value: busy });
      console.log(
        `${name} ${impl}: ${ms.toFixed(1)} ms/step, GPU busy ${busy === undefined ? '-' : busy.toFixed(3)}; losses ${losses(lossList)}`,
      );
      notes.push(
        `${name} ${impl}: loss ${lossList[0]!.toFixed(4)} → ${lossList.at(-1)!.toFixed(4)} over ${lossList.length} steps`,
      );
    };

    // ours
    {
      const model = await createGpuGpt(gpu, layout, { B, T });
      model.loadParams(init);
      const lossList: number[] = [];
      const ms = await medianMs(async () => {
        lossList.push((await model.step(inputs, targets, OURS_HYPER)).loss);
      }, plan);
      // Profiling gives every dispatch its own pass, so it runs after the timed steps.
      const t0 = performance.now();
      const profiled = await model.step(inputs, targets, OURS_HYPER, { profile: true });
      const profiledMs = performance.now() - t0;
      lossList.push(profiled.loss);
      const profile = profiled.profile;
      const busy = profile?.clock === 'timestamp' ? profile.totalNs / (ms * 1e6) : undefined;
      if (profile?.clock === 'timestamp')
        profiledNote(name, 'ours', profile.kernels.length, profiledMs, profile.totalNs / 1e6);
      record('ours', ms, busy, lossList);
      model.destroy();
    }

    // TensorFlow.js
    {
      const model = createTfGpt(layout, init, { B, T }, TF_ADAM);
      const lossList: number[] = [];
      const tensorCounts: number[] = [];
      const step = async () => {
        const loss = model.step(inputs, targets);
        await tfIdle();
        lossList.push((await loss.data())[0]!);
        loss.dispose();
        tensorCounts.push(tf.memory().numTensors);
      };
      const ms = await medianMs(step, plan);
      // tf.time gives every dispatch its own pass with timestamp queries (kernelMs 0 without them).
      const profiledLoss: Scalar[] = [];
      const timing = await tf.time(() => {
        profiledLoss.push(model.step(inputs, targets));
      });
      for (const loss of profiledLoss) {
        lossList.push((await loss.data())[0]!);
        loss.dispose();
      }
      const kernelMs = tfTimestamps && typeof timing.kernelMs === 'number' ? timing.kernelMs : undefined;
      const busy = kernelMs === undefined ? undefined : kernelMs / ms;
      const dispatches = timing.getExtraProfileInfo?.().split(', ').length ?? 0;
      const leaked = tensorCounts.at(-1)! - tensorCounts[0]!;
      if (kernelMs !== undefined) profiledNote(name, 'tfjs-webgpu', dispatches, timing.wallMs, kernelMs);
      console.log(`${name} tfjs-webgpu: ${leaked} tensors leaked after the first step`);
      record('tfjs-webgpu', ms, busy, lossList);
      model.dispose();
    }
  }
  if (!tfTimestamps) notes.push('tfjs-webgpu gpu_busy_fraction left out: its device has no timestamp-query');
  gpu.destroy();
  return { adapter: { ...gpu.adapter, software }, rows, notes };
}
