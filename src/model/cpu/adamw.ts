import type { AdamWHyper } from '../hyper';
import type { DecaySegment } from '../layout';
import { globalNormCpu } from './norm';

/**
 * The AdamW oracle, written for reading, with PyTorch's semantics (decoupled weight decay,
 * bias-corrected moments). State lives in f32 arrays, as on the GPU; each element's update
 * is computed in f64.
 */
export interface CpuAdamWState {
  params: Float32Array;
  /** First and second moment estimates, zero before the first step. */
  m: Float32Array;
  v: Float32Array;
}

export interface CpuAdamWOptions extends AdamWHyper {
  /** 1-based step number. */
  step: number;
  /** Ranges of the parameter vector and whether weight decay applies to each. */
  segments: readonly DecaySegment[];
  /** When set, the gradient is first scaled by min(1, maxNorm / (‖g‖ + 1e-6)). */
  maxNorm?: number;
}

/** One AdamW step, updating `state` in place. */
export function adamwStepCpu(state: CpuAdamWState, grads: Float32Array, options: CpuAdamWOptions): void {
  const { lr, beta1, beta2, eps, weightDecay, step } = options;
  const { params, m, v } = state;
  const clip = options.maxNorm === undefined ? 1 : Math.min(1, options.maxNorm / (globalNormCpu(grads) + 1e-6));
  const biasCorrection1 = 1 - beta1 ** step;
  const biasCorrection2 = 1 - beta2 ** step;
  for (const segment of options.segments) {
    for (let i = segment.offset; i < segment.offset + segment.length; i++) {
      const g = grads[i]! * clip;
      let p = params[i]!;
      if (segment.decay) p -= lr * weightDecay * p;
      m[i] = beta1 * m[i]! + (1 - beta1) * g;
      v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
      const mHat = m[i]! / biasCorrection1;
      const vHat = v[i]! / biasCorrection2;
      params[i] = p - (lr * mHat) / (Math.sqrt(vHat) + eps);
    }
  }
}
