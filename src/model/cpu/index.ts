// The CPU reference: plain TypeScript, written for reading; the oracle for every GPU test.
export { matmulCpu, type CpuMatmulArgs } from './matmul';
export { attentionForwardCpu, attentionBackwardCpu, type AttentionShape } from './attention';
export { crossEntropyForwardCpu, crossEntropyBackwardCpu, type CpuCrossEntropyArgs } from './crossentropy';
export { globalNormCpu } from './norm';
export { adamwStepCpu, type CpuAdamWOptions, type CpuAdamWState } from './adamw';
export { type Floats } from './floats';
export { layernormForwardCpu, layernormBackwardCpu, LAYERNORM_EPS, type LayernormForwardCpuArgs, type LayernormBackwardCpuArgs } from './layernorm';
export { geluForwardCpu, geluBackwardCpu } from './gelu';
export { embeddingForwardCpu, embeddingBackwardCpu, type EmbeddingForwardCpuArgs, type EmbeddingBackwardCpuArgs } from './embedding';
export { splitQkvCpu, joinQkvCpu, mergeHeadsCpu, splitHeadsCpu, type HeadDims } from './heads';
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
} from './gpt';
