// The GPT model's public surface: its shape, the flat parameter layout, init, and the CPU reference.
export { validateConfig, type GptConfig } from './config';
export { paramLayout, decaySegments, LAYOUT_VERSION, tensor, view, parameterCount, type ParamLayout, type TensorSpec } from './layout';
export { initParams } from './init';
export {
  gptForwardCpu,
  gptBackwardCpu,
  gptTrainStepCpu,
  type GptForwardCpuResult,
  type BlockActivations,
  type LayernormActivations,
  type GptCpuTrainState,
  type GptCpuBatch,
  type GptCpuTrainHyper,
} from './cpu';
export { MODEL_PRESETS, modelPreset, type ModelPreset } from './presets';
