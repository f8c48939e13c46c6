// The CPU reference: plain TypeScript, written for reading; the oracle for every GPU test.

export { adamwStepCpu, type CpuAdamWOptions, type CpuAdamWState } from './adamw';
export { type AttentionShape, attentionBackwardCpu, attentionForwardCpu } from './attention';
export { type CpuCrossEntropyArgs, crossEntropyBackwardCpu, crossEntropyForwardCpu } from './crossentropy';
export {
  type EmbeddingBackwardCpuArgs,
  type EmbeddingForwardCpuArgs,
  embeddingBackwardCpu,
  embeddingForwardCpu,
} from './embedding';
export type { Floats } from './floats';
export { geluBackwardCpu, geluForwardCpu } from './gelu';
export {
  type BlockActivations,
  type GptCpuBatch,
  type GptCpuTrainState,
  type GptForwardCpuResult,
  gptBackwardCpu,
  gptForwardCpu,
  gptTrainStepCpu,
  type LayernormActivations,
} from './gpt';
export { type HeadDims, joinQkvCpu, mergeHeadsCpu, splitHeadsCpu, splitQkvCpu } from './heads';
export {
  type LayernormBackwardCpuArgs,
  type LayernormForwardCpuArgs,
  layernormBackwardCpu,
  layernormForwardCpu,
} from './layernorm';
export { type CpuMatmulArgs, matmulCpu } from './matmul';
export { globalNormCpu } from './norm';
