// `npm run bench -- train`: one full training step (forward, backward, optimiser) of our GPU GPT
// against the same model built from TensorFlow.js ops on its WebGPU backend (bench/lib/tfjs-gpt.ts),
// in one page on one adapter, from the same init on the same fixed batch.
//
// Implementations (table columns):
// - ours: matmul tiles tuned on this adapter for the step's products (tuneMatmul on stepMatmuls), as the trainer does.
// - ours-untuned: the same model on a second device that never tuned (the launcher's default tiles).
// - tfjs-webgpu: tfjs's default settings.
// - tfjs-webgpu-best: the fastest of tfjs's matmul settings for this model (TF_STEP_CANDIDATES),
//   swept here by median step time over SWEEP_RUNS interleaved steps.
// In Node (--node) tfjs cannot train (bench/lib/peers.ts TF_TRAINING_UNAVAILABLE): ours alone.
//
// Before anything is timed, the first step of every implementation (and of every tfjs setting
// swept), from the same init and batch, must give the loss of the CPU reference model
// (gptForwardCpu, f64 arithmetic) within LOSS_RTOL; otherwise OutputCheckError fails the benchmark.
//
// Timing: a step is timed from its call to its loss read back on the CPU (queue complete), the
// batch uploaded every step. Warm-up steps, then timed steps interleaved step by step across the
// implementations (interleavedMs). Rows are median [min–max] over the timed steps of
// tokens_per_s = B·T / step time and gflops = the step's matrix-product FLOPs as the implementation
// does them (bench/lib/train-flops.ts) / step time; gpu_busy_fraction comes from one extra profiled step.
import type { Scalar } from '@tensorflow/tfjs-core';
import { acquireGpu, attentionTiles, type Gpu, tuneMatmul } from '../src/gpu';
import { DEFAULT_HYPER, initParams, parameterCount, paramLayout, type TrainHyper } from '../src/model';
import { gptForwardCpu } from '../src/model/cpu';
import { createGpuGpt, type GpuGpt } from '../src/model/gpu-gpt';
import { stepMatmuls } from '../src/trainer';
import { createRandom } from '../src/util/random';
import { checkOutput } from './lib/check';
import { loadTf, TF_TRAINING_UNAVAILABLE } from './lib/peers';
import { type BenchResult, type BenchRow, median, spreadRows } from './lib/results';
import type { TfAdam, TfGpt } from './lib/tfjs-gpt';
import {
  applyTfSetting,
  describeTfSetting,
  rankTfSettings,
  TF_DEFAULT_SETTING,
  TF_STEP_CANDIDATES,
  type TfMatmulSetting,
} from './lib/tfjs-settings';
import { interleavedMs, isSoftwareAdapter, type TimingPlan } from './lib/timing';
import { flashAttentionFlops, fullAttentionFlops, linearFlops } from './lib/train-flops';

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
/**
 * First-step loss against the CPU reference, relative. The loss is a mean over B·T positions of a
 * log-softmax of f32 logits: f32 rounding moves it by about 1e-7 relative (SwiftShader: ours and
 * tfjs 6.948730 against the reference's 6.948729). 1e-5 leaves ten times that for other summation
 * orders and GPU exp/log; one optimiser step moves the loss by 1e-2.
 */
const LOSS_RTOL = 1e-5;
/** Timed steps per tfjs setting in the sweep, after one checked step each. */
const SWEEP_RUNS = 2;

interface TrainConfig {
  layers: number;
  width: number;
}

type Impl = 'ours' | 'ours-untuned' | 'tfjs-webgpu' | 'tfjs-webgpu-best';

/** One implementation's model, as the benchmark drives it. */
interface Runner {
  /** One training step; resolves with the loss before the update, read back. */
  step(): Promise<number>;
  /** The loss of every step so far. */
  readonly losses: number[];
  /**
   * One profiled step: summed per-dispatch GPU time, undefined without timestamp queries; ours also
   * gives it per kernel (ms by kernel name, every dispatch of the step).
   */
  profiledStep(): Promise<{
    kernelMs: number | undefined;
    wallMs: number;
    dispatches: number;
    byKernel?: Record<string, number>;
  }>;
  dispose(): void;
}

/** Profiled steps after the timed ones: the busy fraction and per-kernel times are their medians. */
const PROFILED_STEPS = 5;

function randomTokens(n: number, vocab: number, seed: number): Uint32Array {
  const next = createRandom(seed);
  return Uint32Array.from({ length: n }, () => Math.floor(next() * vocab));
}

export async function run(options: TrainBenchOptions = {}): Promise<BenchResult> {
  const gpu = await acquireGpu();
  const untunedGpu = await acquireGpu();
  const software = isSoftwareAdapter(gpu.adapter);
  // tfjs-gpt registers tfjs's gradients when loaded, which only a page can do.
  const tfjs = TF_TRAINING_UNAVAILABLE
    ? undefined
    : { ...(await loadTf()), createTfGpt: (await import('./lib/tfjs-gpt')).createTfGpt };
  const tfTimestamps =
    tfjs !== undefined &&
    (tfjs.tf.backend() as unknown as { device: GPUDevice }).device.features.has('timestamp-query');
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
    `timing: ${plan.warmup} warm-up steps each, then ${plan.runs} timed steps interleaved step by step across the implementations; a step runs to its loss read back on the CPU; same init (initParams seed 1) and the same fixed random batch every step; each row: median [min–max] over the timed steps`,
    `checked before timing: the first step's loss of every implementation and of every tfjs setting swept, from the same init and batch, equals the CPU reference model's loss (gptForwardCpu) within ${LOSS_RTOL} relative`,
    `ours: AdamW lr ${LR}, betas ${OURS_HYPER.beta1}/${OURS_HYPER.beta2}, weight decay ${OURS_HYPER.weightDecay}, global-norm clip ${OURS_HYPER.gradClip}; tfjs: tf.train.adam with the same lr/betas/eps, no weight decay, no clipping (tfjs has neither built in)`,
    "ours: matmul tiles tuned per case on every matmul of the step, weighted by how often it runs (tuneMatmul on stepMatmuls, as the trainer does; the launcher drops to 32×32 tiles for a product of fewer workgroups of the tuned tile than the adapter runs at once, which the tuning measures); ours-untuned: the same model on a second device that never tuned, so with the launcher's default tile",
    'tfjs model: tf ops (gather embedding, tf.moments LayerNorm, batched tf.matMul attention over all T×T scores with a −1e9 causal mask and tf.softmax, tanh GELU, tied head, tf.losses.softmaxCrossEntropy), gradients by optimizer.minimize',
    `tfjs-webgpu-best: per case, the fastest (median of ${SWEEP_RUNS} interleaved steps) of: ${TF_STEP_CANDIDATES.map(describeTfSetting).join('; ')} (split-K cannot run the batched attention products; reduce, one workgroup per output, is for outputs of ≤ 128 elements)`,
    'gflops: matrix-product FLOPs of the step as each implementation does them, over the step time: both 6·(linear and head weights)·tokens; attention: tfjs 12·D per score over all T×T scores, ours 18·D per score of the BR×BC tiles it computes up to the diagonal (forward 4·D, its backward recomputes S and dP: 6·D + 8·D)',
    `gpu_busy_fraction: summed per-dispatch GPU time from timestamp queries, the median of ${PROFILED_STEPS} extra profiled steps (ours: profile.totalNs; tfjs: tf.time kernelMs) / the median unprofiled step time (tf.time's own wall time is not used: it submits and reads back after every dispatch)`,
  ];
  if (software) {
    notes.push(
      `software adapter: B=${B} T=${T} and models 2x64, 4x128 instead of B=8 T=128 and 4x128, 6x256`,
      'software adapter: gpu_busy_fraction means little here: the emulated GPU runs on the same 2 CPU cores as the page, and a profiled step ' +
        '(one pass per dispatch) runs slower than an unprofiled one, so the summed dispatch time can exceed the unprofiled step (values > 1)',
    );
  }
  const rows: BenchRow[] = [];

  for (const { layers, width } of configs) {
    const name = software ? `${layers}x${width} (B=${B}, T=${T})` : `${layers}x${width}`;
    if (options.cases?.length && !options.cases.some((c) => name.startsWith(c))) continue;
    const layout = paramLayout({ vocab: VOCAB, context: T, layers, heads: width / HEAD_DIM, width });
    const init = initParams(layout, 1);
    const tokens = randomTokens(B * T + 1, VOCAB, 7);
    const inputs = tokens.subarray(0, B * T);
    const targets = tokens.subarray(1);

    const t0 = performance.now();
    const cpuLoss = gptForwardCpu(layout, init, inputs, targets, B, T).loss!; // with targets, the loss is there
    console.log(
      `${name}: ${parameterCount(layout)} parameters; CPU reference loss ${cpuLoss.toFixed(6)} in ${(performance.now() - t0).toFixed(0)} ms; ln(vocab) = ${Math.log(VOCAB).toFixed(4)}`,
    );
    const firstLosses: string[] = [];
    /** Runs the first step and checks its loss; the step is also the runner's first warm-up. */
    const checkedFirstStep = async (what: string, runner: Runner) => {
      const loss = await runner.step();
      checkOutput(`${name} ${what} first-step loss`, [loss], [cpuLoss], { atol: 0, rtol: LOSS_RTOL });
      firstLosses.push(`${what} ${loss.toFixed(6)}`);
    };

    const gpuRunner = async (device: Gpu): Promise<Runner> => {
      const model: GpuGpt = await createGpuGpt(device, layout, { B, T });
      model.loadParams(init);
      const losses: number[] = [];
      return {
        losses,
        step: async () => {
          const { loss } = await model.step(inputs, targets, OURS_HYPER);
          losses.push(loss);
          return loss;
        },
        profiledStep: async () => {
          const start = performance.now();
          const { profile } = await model.step(inputs, targets, OURS_HYPER, { profile: true });
          const timestamps = profile?.clock === 'timestamp';
          const byKernel: Record<string, number> = {};
          for (const { kernel, ns } of profile?.kernels ?? []) byKernel[kernel] = (byKernel[kernel] ?? 0) + ns / 1e6;
          return {
            kernelMs: timestamps ? profile.totalNs / 1e6 : undefined,
            wallMs: performance.now() - start,
            dispatches: profile?.kernels.length ?? 0,
            byKernel: timestamps ? byKernel : undefined,
          };
        },
        dispose: () => model.destroy(),
      };
    };
    const tfRunner = (tfLoaded: NonNullable<typeof tfjs>, setting: TfMatmulSetting): Runner => {
      const model: TfGpt = tfLoaded.createTfGpt(layout, init, { B, T }, TF_ADAM);
      const losses: number[] = [];
      return {
        losses,
        step: async () => {
          applyTfSetting(setting);
          const loss = model.step(inputs, targets);
          await tfLoaded.idle();
          const value = (await loss.data())[0]!;
          loss.dispose();
          losses.push(value);
          return value;
        },
        // tf.time gives every dispatch its own pass with timestamp queries (kernelMs 0 without them).
        profiledStep: async () => {
          applyTfSetting(setting);
          const scalars: Scalar[] = [];
          const timing = await tfLoaded.tf.time(() => void scalars.push(model.step(inputs, targets)));
          for (const loss of scalars) loss.dispose();
          return {
            kernelMs: tfTimestamps && typeof timing.kernelMs === 'number' ? timing.kernelMs : undefined,
            wallMs: timing.wallMs,
            dispatches: timing.getExtraProfileInfo?.().split(', ').length ?? 0,
          };
        },
        dispose: () => model.dispose(),
      };
    };

    // tfjs's settings: each checked, then swept; the sweep's models are then dropped.
    const tfRunners = async (tfLoaded: NonNullable<typeof tfjs>) => {
      const swept = TF_STEP_CANDIDATES.map((setting) => ({ setting, runner: tfRunner(tfLoaded, setting) }));
      for (const { setting, runner } of swept)
        await checkedFirstStep(`tfjs-webgpu (${describeTfSetting(setting)})`, runner);
      const sweep = await rankTfSettings(
        swept.map(({ setting, runner }) => ({ setting, run: async () => void (await runner.step()) })),
        { warmup: 0, runs: SWEEP_RUNS },
      );
      for (const { runner } of swept) runner.dispose();
      const best = sweep[0]!.setting; // TF_STEP_CANDIDATES is not empty
      const sweepText = sweep.map((s) => `${describeTfSetting(s.setting)} ${s.ms.toFixed(0)}ms`).join('; ');
      console.log(`${name} tfjs sweep: ${sweepText}`);
      notes.push(`${name} tfjs-webgpu-best: ${describeTfSetting(best)} (sweep: ${sweepText})`);
      return {
        'tfjs-webgpu': tfRunner(tfLoaded, TF_DEFAULT_SETTING),
        'tfjs-webgpu-best': tfRunner(tfLoaded, best),
      };
    };

    const tuning = await tuneMatmul(gpu, { shapes: stepMatmuls({ config: layout.config, batchSize: B, context: T }) });
    const t = tuning.record.tiles;
    const runners: Partial<Record<Impl, Runner>> = {
      ours: await gpuRunner(gpu),
      'ours-untuned': await gpuRunner(untunedGpu),
      ...(tfjs ? await tfRunners(tfjs) : {}),
    };
    const impls = Object.keys(runners) as Impl[];
    for (const impl of impls) await checkedFirstStep(impl, runners[impl]!);
    notes.push(
      `${name}: ours tuned tile ${t.TILE_M}x${t.TILE_N}x${t.TILE_K}/TM${t.TM}`,
      `${name} first-step losses: CPU reference ${cpuLoss.toFixed(6)}; ${firstLosses.join('; ')}`,
    );

    const times = await interleavedMs(
      Object.fromEntries(impls.map((impl) => [impl, async () => void (await runners[impl]!.step())])),
      plan,
    );

    const oursFlops =
      linearFlops(layout, B * T) +
      flashAttentionFlops(layout, B, T, {
        forward: attentionTiles(gpu, 'forward', HEAD_DIM, T),
        dq: attentionTiles(gpu, 'dq', HEAD_DIM, T),
        dkdv: attentionTiles(gpu, 'dkdv', HEAD_DIM, T),
      });
    const tfFlops = linearFlops(layout, B * T) + fullAttentionFlops(layout, B, T);
    notes.push(
      `${name} matrix-product GFLOP per step: ours ${(oursFlops / 1e9).toFixed(4)}, tfjs ${(tfFlops / 1e9).toFixed(4)}`,
    );
    for (const impl of impls) {
      const runner = runners[impl]!;
      const ms = times[impl]!;
      const flops = impl.startsWith('ours') ? oursFlops : tfFlops;
      rows.push(
        ...spreadRows(
          name,
          impl,
          'tokens_per_s',
          ms.map((x) => (B * T) / (x / 1000)),
        ),
      );
      rows.push(
        ...spreadRows(
          name,
          impl,
          'gflops',
          ms.map((x) => flops / (x * 1e6)),
        ),
      );
      // Profiling gives every dispatch its own pass, so it runs after the timed steps.
      const profiledSteps: Awaited<ReturnType<Runner['profiledStep']>>[] = [];
      for (let i = 0; i < PROFILED_STEPS; i++) profiledSteps.push(await runner.profiledStep());
      const profiled = profiledSteps[0]!;
      if (profiled.kernelMs !== undefined) {
        const kernelMs = median(profiledSteps.map((p) => p.kernelMs ?? 0));
        rows.push({ case: name, impl, metric: 'gpu_busy_fraction', value: kernelMs / median(ms) });
        notes.push(
          `${name} ${impl}: ${profiled.dispatches} dispatches per step; profiled step ${profiled.wallMs.toFixed(1)} ms wall, ${kernelMs.toFixed(1)} ms in dispatches (median of ${PROFILED_STEPS})`,
        );
      }
      if (profiled.byKernel) {
        const names = Object.keys(profiled.byKernel).sort();
        const each = names.map((k) => `${k} ${median(profiledSteps.map((p) => p.byKernel?.[k] ?? 0)).toFixed(2)}`);
        notes.push(
          `${name} ${impl}: GPU ms per step by kernel (median of ${PROFILED_STEPS} profiled steps): ${each.join(', ')}`,
        );
      }
      const { losses } = runner;
      notes.push(
        `${name} ${impl}: loss ${losses[0]!.toFixed(4)} → ${losses.at(-1)!.toFixed(4)} over ${losses.length} steps`,
      );
      console.log(`${name} ${impl}: ms/step ${ms.map((x) => x.toFixed(0)).join(' ')}`);
      runner.dispose();
    }
  }
  if (tfjs) applyTfSetting(TF_DEFAULT_SETTING);
  if (TF_TRAINING_UNAVAILABLE) notes.push(TF_TRAINING_UNAVAILABLE);
  else if (!tfTimestamps) notes.push('tfjs gpu_busy_fraction left out: its device has no timestamp-query');
  gpu.destroy();
  untunedGpu.destroy();
  return { adapter: { ...gpu.adapter, software }, rows, notes };
}
