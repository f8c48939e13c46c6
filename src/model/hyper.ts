// The optimiser's settings, the same for the GPU model and the CPU reference.

/** AdamW with PyTorch's semantics: bias-corrected moments, decoupled weight decay. */
export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Applied only to tensors that decay (matrices; see decaySegments). */
  weightDecay: number;
}

/** The optimiser's settings for one training step. */
export interface TrainHyper extends AdamWHyper {
  /** Clip the global gradient norm to this (no clipping when undefined). */
  gradClip?: number;
}

export const DEFAULT_HYPER: TrainHyper = {
  lr: 3e-4,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.1,
  gradClip: 1,
};

/**
 * An AdamW step count at which both bias corrections are 1 to float precision (β2^10⁶ underflows):
 * a run that starts from given moments (fed/second-moment.ts) counts its steps from here, so they
 * are taken as they are.
 */
export const UNCORRECTED_STEP = 1_000_000;
