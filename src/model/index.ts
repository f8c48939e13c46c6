// The GPT model's public surface: its shape, the flat parameter layout, init, the optimiser's
// settings, sampling, and the CPU reference. The GPU model (gpu-gpt.ts) is imported directly
// by the page and the worker: it pulls in the WGSL kernels, which Node code must not load.
export { type GptConfig, validateConfig } from './config';
export {
  type BlockActivations,
  type GptCpuBatch,
  type GptCpuTrainState,
  type GptForwardCpuResult,
  gptBackwardCpu,
  gptForwardCpu,
  gptTrainStepCpu,
  type LayernormActivations,
} from './cpu';
export { nominalTrainFlops } from './flops';
export { checkKernelLimits, type TrainingGpuNeeds, trainingGpuNeeds } from './gpu-fit';
export { type AdamWHyper, DEFAULT_HYPER, type TrainHyper, UNCORRECTED_STEP } from './hyper';
export { initParams } from './init';
export {
  type DecaySegment,
  decaySegments,
  LAYOUT_VERSION,
  type LayerTensors,
  type LinearTensors,
  type NormTensors,
  type ParamLayout,
  type ParamTensors,
  parameterCount,
  paramLayout,
  type TensorSpec,
  view,
} from './layout';
export { MODEL_PRESETS, type ModelPreset, modelPreset } from './presets';
export { sampleToken } from './sample';
