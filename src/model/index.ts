// The GPT model's public surface: its shape, the flat parameter layout, init, and the CPU reference.
export { type GptConfig, validateConfig } from './config';
export {
  type BlockActivations,
  type GptCpuBatch,
  type GptCpuTrainHyper,
  type GptCpuTrainState,
  type GptForwardCpuResult,
  gptBackwardCpu,
  gptForwardCpu,
  gptTrainStepCpu,
  type LayernormActivations,
} from './cpu';
export { initParams } from './init';
export {
  decaySegments,
  LAYOUT_VERSION,
  type ParamLayout,
  parameterCount,
  paramLayout,
  type TensorSpec,
  tensor,
  view,
} from './layout';
export { MODEL_PRESETS, type ModelPreset, modelPreset } from './presets';
