import adamwSource from '../../kernels/adamw.wgsl?raw';
import type { Batch, BufferRef } from './batch';
import type { Gpu } from './device';
import { GpuError } from './errors';
import { grid1d } from './grid';
import type { KernelSpec } from './pipelines';
import { unusedBinding } from './placeholder';
import { upload } from './transfer';
import { uniforms } from './uniforms';
import { requireElements, requireSizes } from './validate';

const THREADS = 256;

const PARAMS = uniforms({
  n: 'u32',
  segmentCount: 'u32',
  lr: 'f32',
  beta1: 'f32',
  beta2: 'f32',
  /** From f64 on the CPU: 1 − f32(0.999) would be off by 1e-5 relative. */
  oneMinusBeta1: 'f32',
  oneMinusBeta2: 'f32',
  eps: 'f32',
  weightDecay: 'f32',
  /** 1 − β1^t */
  biasCorrection1: 'f32',
  /** 1 − β2^t */
  biasCorrection2: 'f32',
  /** Unused without clipping. */
  maxNorm: 'f32',
});

export interface AdamWHyperparameters {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay, applied only in segments with `decay: true`. */
  weightDecay: number;
}

/** A range of the flat parameter vector (one tensor, say) and whether weight decay applies to it. */
export interface DecaySegment {
  offset: number;
  length: number;
  decay: boolean;
}

/** Segments encoded on the GPU for adamw(); made once by uploadDecaySegments, released by the caller to gpu.pool. */
export interface DecaySegments {
  buffer: GPUBuffer;
  /** Number of (start, decays) runs in the buffer. */
  count: number;
  /** Length of the parameter vector the segments cover. */
  n: number;
}

export interface AdamWArgs extends AdamWHyperparameters {
  /** Updated in place, like the moments m and v; all four are [n] f32. */
  params: BufferRef;
  grads: BufferRef;
  m: BufferRef;
  v: BufferRef;
  n: number;
  /** 1-based step number, for bias correction. */
  step: number;
  segments: DecaySegments;
  /** Scales the gradient by min(1, maxNorm / (‖g‖ + 1e-6)), reading ‖g‖ from gradNorm[0] (see globalNorm). */
  clip?: { gradNorm: BufferRef; maxNorm: number };
}

/**
 * Checks that the segments tile [0, n) without gaps or overlaps (in any order) and packs
 * them as (start, decays) u32 pairs, one per run of equal flags, sorted by start.
 */
export function encodeDecaySegments(n: number, segments: readonly DecaySegment[]): Uint32Array {
  const kernel = 'adamw';
  requireSizes(kernel, { n });
  const sorted = segments.filter((s) => s.length !== 0).sort((a, b) => a.offset - b.offset);
  const runs: number[] = [];
  let end = 0;
  for (const s of sorted) {
    if (!Number.isInteger(s.offset) || !Number.isInteger(s.length) || s.length < 0) {
      throw new GpuError(
        kernel,
        `segment ${JSON.stringify(s)} needs an integer offset and a non-negative integer length`,
      );
    }
    if (s.offset !== end) {
      throw new GpuError(
        kernel,
        `segments must cover [0, ${n}) exactly: ${s.offset < end ? 'overlap' : 'gap'} at ${Math.min(s.offset, end)}`,
      );
    }
    const flag = s.decay ? 1 : 0;
    if (runs.length === 0 || runs[runs.length - 1] !== flag) runs.push(s.offset, flag);
    end = s.offset + s.length;
  }
  if (end !== n) throw new GpuError(kernel, `segments must cover [0, ${n}) exactly: they end at ${end}`);
  return new Uint32Array(runs);
}

/** Encodes the segments into a small storage buffer, once per parameter layout. */
export function uploadDecaySegments(gpu: Gpu, n: number, segments: readonly DecaySegment[]): DecaySegments {
  const runs = encodeDecaySegments(n, segments);
  return { buffer: upload(gpu, runs, 'adamw-segments'), count: runs.length / 2, n };
}

function validate(args: AdamWArgs): void {
  const fail = (message: string) => new GpuError('adamw', message);
  const { n, step, lr, beta1, beta2, eps, weightDecay } = args;
  requireSizes('adamw', { n, step });
  if (!(lr >= 0 && Number.isFinite(lr))) throw fail(`lr must be finite and >= 0, got ${lr}`);
  if (!(beta1 >= 0 && beta1 < 1)) throw fail(`beta1 must be in [0, 1), got ${beta1}`);
  if (!(beta2 >= 0 && beta2 < 1)) throw fail(`beta2 must be in [0, 1), got ${beta2}`);
  if (!(eps > 0 && Number.isFinite(eps))) throw fail(`eps must be finite and > 0, got ${eps}`);
  if (!(weightDecay >= 0 && Number.isFinite(weightDecay)))
    throw fail(`weightDecay must be finite and >= 0, got ${weightDecay}`);
  if (args.segments.n !== n) throw fail(`segments cover ${args.segments.n} parameters, expected n=${n}`);
  for (const [label, buffer] of Object.entries({ params: args.params, grads: args.grads, m: args.m, v: args.v })) {
    requireElements('adamw', label, buffer, n, `n=${n}`);
  }
  if (args.clip) {
    const { maxNorm, gradNorm } = args.clip;
    if (!(maxNorm > 0 && Number.isFinite(maxNorm))) throw fail(`clip.maxNorm must be finite and > 0, got ${maxNorm}`);
    requireElements('adamw', 'clip.gradNorm', gradNorm, 1, 'the norm');
  }
}

/** Records one fused AdamW step over all n parameters into `batch`. */
export async function adamw(gpu: Gpu, batch: Batch, args: AdamWArgs): Promise<void> {
  validate(args);
  const spec: KernelSpec = {
    name: 'adamw',
    source: adamwSource,
    consts: { THREADS, CLIP: args.clip !== undefined },
    uniforms: PARAMS,
  };
  const params = PARAMS.pack({
    n: args.n,
    segmentCount: args.segments.count,
    lr: args.lr,
    beta1: args.beta1,
    beta2: args.beta2,
    oneMinusBeta1: 1 - args.beta1,
    oneMinusBeta2: 1 - args.beta2,
    eps: args.eps,
    weightDecay: args.weightDecay,
    biasCorrection1: 1 - args.beta1 ** args.step,
    biasCorrection2: 1 - args.beta2 ** args.step,
    maxNorm: args.clip?.maxNorm ?? 0,
  });
  const buffers = [
    args.params,
    args.grads,
    args.m,
    args.v,
    args.segments.buffer,
    args.clip?.gradNorm ?? unusedBinding(gpu),
  ];
  const pipeline = await gpu.pipelines.get(spec);
  const workgroups = grid1d(args.n, THREADS, gpu.limits.maxComputeWorkgroupsPerDimension);
  batch.dispatch({ kernel: 'adamw', pipeline, buffers, params, workgroups });
}
