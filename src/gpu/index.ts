// The GPU runtime: device, buffers, pipelines, batched dispatch, profiling, and the kernel launchers.
// Knows nothing about models.

export {
  type AdamWArgs,
  type AdamWHyperparameters,
  adamw,
  type DecaySegment,
  type DecaySegments,
  encodeDecaySegments,
  uploadDecaySegments,
} from './adamw';
export {
  ATTENTION_TILE_CANDIDATES,
  type AttentionLaunch,
  type AttentionShapeArgs,
  type AttentionSplitOption,
  type AttentionTiles,
  attentionBackward,
  attentionForward,
  attentionLaunch,
  attentionTiles,
} from './attention';
export {
  type Batch,
  type BatchProfile,
  type BufferRef,
  byteSize,
  createBatch,
  type DispatchSpec,
  type KernelTiming,
  MAX_PROFILED_DISPATCHES,
} from './batch';
export { type BufferPool, type BufferPoolStats, createBufferPool, sizeClass } from './buffers';
export {
  type CrossEntropyBackwardArgs,
  type CrossEntropyForwardArgs,
  crossEntropyBackward,
  crossEntropyForward,
} from './crossentropy';
export {
  type AcquireOptions,
  type AdapterSummary,
  acquireGpu,
  adapterKey,
  type Gpu,
  type KernelVariants,
  webgpuUnavailableMessage,
} from './device';
export { add, addInto, scale } from './elementwise';
export {
  type EmbeddingBackwardArgs,
  type EmbeddingForwardArgs,
  type EmbeddingShape,
  embeddingBackward,
  embeddingForward,
} from './embedding';
export { GpuDeviceLostError, GpuError, withErrorScope } from './errors';
export { geluBackward, geluForward } from './gelu';
export { grid1d } from './grid';
export { type HeadShape, joinQkv, mergeHeads, splitHeads, splitQkv } from './heads';
export {
  type LayernormBackwardArgs,
  type LayernormForwardArgs,
  layernormBackward,
  layernormForward,
} from './layernorm';
export { MAX_HEAD_DIM } from './limits';
export {
  assumedParallelism,
  chooseTiles,
  type MatmulArgs,
  type MatmulLaunch,
  type MatmulShape,
  type MatmulTiles,
  type MatmulTuning,
  matmul,
  SMALL_TILES,
  THIN_MAX_SIDE,
  TILE_CANDIDATES,
  type TileTiming,
  TUNING_SHAPES,
  type TunedTiles,
  type TuneOptions,
  tiledMatmulConsts,
  tilesFit,
  tuneMatmul,
  useMatmulTiles,
} from './matmul';
export { globalNorm, reduceSum } from './norm';
export { createPipelineCache, type KernelConsts, type KernelSpec, type PipelineCache, wgslPreamble } from './pipelines';
export { type SoftmaxArgs, softmaxBackward, softmaxForward } from './softmax';
export { type SumBlocksArgs, sumBlocksInto } from './sumblocks';
export { readFloats, STORAGE, storage, upload } from './transfer';
export { type UniformFields, type Uniforms, type UniformType, type UniformValues, uniforms } from './uniforms';
