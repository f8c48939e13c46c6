// The trainer: owns the GPU and the model, trains a round's local steps at the volunteer's pace and
// encodes the update. One interface (trainer.ts) for every place it runs: the worker, the page, Node.
export { createGpuTrainer, type GpuTrainerDeps, RESIDUAL_KEY } from './gpu-trainer';
export { createPacer, dutyWaitMs, PACE_SLICE_MS, type Pacer, validatePacing } from './pacing';
export { installMatmulTiles, type MatmulTileChoice, type StepShape, stepMatmuls, tilesKey } from './tiles';
export type {
  InnerHyper,
  Pacing,
  Trainer,
  TrainerActivity,
  TrainerInfo,
  TrainerInit,
  TrainProgress,
  TrainRequest,
  TrainResult,
} from './trainer';
export { stepHyper, warmedLr } from './trainer';
