// TensorFlow.js's settings that change which matmul program runs, so that a benchmark can give
// tfjs its best on this adapter, as tuneMatmul gives ours its best tile. From the source of
// @tensorflow/tfjs-backend-webgpu 4.22 (kernels/BatchMatMul_impl, webgpu_util, flags_webgpu):
//
// - WEBGPU_MATMUL_PROGRAM_TYPE forces one program for every product: reduce (a 256-thread workgroup
//   per output), split-K (K split in chunks of 128, atomic adds; batch 1 only), small-output-size
//   (16×8 threads, one output each) or packed (8×8 threads × 4×4 outputs: a 32×32 tile, vec4 loads
//   where the shape allows). By default (-1) tfjs picks per product: packed, unless the product
//   has at most WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL 32×32 tiles (default 8; 16 on
//   Intel Gen12+), then one of the other three.
// - The packed program has a sequential-access variant, which tfjs picks on Intel adapters only
//   (backend.adapterInfo.isIntel(), which nothing else on a matmul or GPT path reads).
// - The packed tile itself has no setting.
// Not matmul settings: WEBGPU_CPU_FORWARD runs an op on the CPU only when every input is a CPU
// tensor under 1000 elements (never so for GPU-resident operands); WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE
// is the number of dispatches per queue submit.
import { type WebGPUBackend, webgpu_util } from '@tensorflow/tfjs-backend-webgpu';
import * as tf from '@tensorflow/tfjs-core';
import { median } from './results';
import { interleavedMs, type TimingPlan } from './timing';

const { MatMulProgramType } = webgpu_util;

const PROGRAMS = {
  auto: -1,
  reduce: MatMulProgramType.MatMulReduceProgram,
  'split-k': MatMulProgramType.MatMulSplitKProgram,
  'small-output-size': MatMulProgramType.MatMulSmallOutputSizeProgram,
  packed: MatMulProgramType.MatMulPackedProgram,
} as const;

/** One choice of tfjs's matmul settings; what is left out stays at tfjs's default. */
export interface TfMatmulSetting {
  /** WEBGPU_MATMUL_PROGRAM_TYPE; 'auto' (the default) lets tfjs pick per product. */
  program: keyof typeof PROGRAMS;
  /** WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL, read with program 'auto'. */
  threshold?: number;
  /** The packed program's sequential-access variant (tfjs's own choice: on Intel adapters). */
  sequentialAccess?: boolean;
}

export const TF_DEFAULT_SETTING: TfMatmulSetting = { program: 'auto' };

/**
 * The candidates for one product: each program tfjs's default can pick for it, the packed one in
 * both variants. Not reduce (a 256-thread workgroup per output, which tfjs picks for outputs of at
 * most 128 elements only): at 128×128×128 on SwiftShader it ran 300 times slower than packed.
 */
export const TF_MATMUL_CANDIDATES: TfMatmulSetting[] = [
  { program: 'packed', sequentialAccess: false },
  { program: 'packed', sequentialAccess: true },
  { program: 'small-output-size' },
  { program: 'split-k' },
];

/**
 * The candidates for a training step, which runs products of many shapes, batched ones too
 * (split-K cannot run those): tfjs's per-product choice at other thresholds, and one program for all.
 */
export const TF_STEP_CANDIDATES: TfMatmulSetting[] = [
  TF_DEFAULT_SETTING,
  { program: 'auto', threshold: 32 },
  { program: 'auto', threshold: 256 },
  { program: 'packed', sequentialAccess: false },
  { program: 'packed', sequentialAccess: true },
  { program: 'small-output-size' },
];

export function describeTfSetting(s: TfMatmulSetting): string {
  const parts = [s.program === 'auto' ? "tfjs's per-product choice" : `${s.program} program`];
  if (s.threshold !== undefined) parts.push(`threshold ${s.threshold}`);
  if (s.sequentialAccess !== undefined) parts.push(`sequential access ${s.sequentialAccess ? 'on' : 'off'}`);
  return parts.join(', ');
}

/** Makes `s` the setting of every later tfjs matmul (the flags are read at each call). */
export function applyTfSetting(s: TfMatmulSetting): void {
  tf.env().set('WEBGPU_MATMUL_PROGRAM_TYPE', PROGRAMS[s.program]);
  tf.env().set('WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL', s.threshold ?? -1);
  const info = (tf.backend() as WebGPUBackend).adapterInfo;
  const ownChoice = Object.getPrototypeOf(info).isIntel as () => boolean;
  const sequential = s.sequentialAccess;
  info.isIntel = sequential === undefined ? ownChoice : () => sequential;
}

/** A candidate's median time over the sweep's runs. */
export interface TfSettingTiming {
  setting: TfMatmulSetting;
  ms: number;
}

/**
 * Times every candidate's `run` with its setting applied, the candidates taking turns run by run
 * (interleavedMs); returns them fastest first by median. Each candidate's output must have been
 * checked before: a fast but wrong program must not win.
 */
export async function rankTfSettings(
  candidates: { setting: TfMatmulSetting; run: () => Promise<void> }[],
  plan: TimingPlan,
): Promise<TfSettingTiming[]> {
  const impls: Record<string, () => Promise<void>> = {};
  for (const { setting, run } of candidates) {
    impls[describeTfSetting(setting)] = async () => {
      applyTfSetting(setting);
      await run();
    };
  }
  const times = await interleavedMs(impls, plan);
  return candidates
    .map(({ setting }) => ({ setting, ms: median(times[describeTfSetting(setting)] ?? []) }))
    .sort((x, y) => x.ms - y.ms);
}
