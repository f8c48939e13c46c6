// The GPU runtime: device, buffers, pipelines, batched dispatch, profiling, and the kernel launchers.
// Knows nothing about models.
export { acquireGpu, webgpuUnavailableMessage, type AcquireOptions, type AdapterSummary, type Gpu } from './device';
export { GpuError, GpuDeviceLostError, withErrorScope } from './errors';
export { createBufferPool, sizeClass, type BufferPool, type BufferPoolStats } from './buffers';
export { createPipelineCache, wgslPreamble, type KernelConsts, type KernelSpec, type PipelineCache } from './pipelines';
export { createBatch, byteSize, MAX_PROFILED_DISPATCHES, type Batch, type BatchProfile, type BufferRef, type DispatchSpec, type KernelTiming } from './batch';
export { upload, storage, readFloats, STORAGE } from './transfer';
export {
  matmul,
  tuneMatmul,
  chooseTiles,
  tilesFit,
  TILE_CANDIDATES,
  THIN_MAX_SIDE,
  type MatmulArgs,
  type MatmulLaunch,
  type MatmulTiles,
} from './matmul';
export { grid1d } from './grid';
export {
  attentionForward,
  attentionBackward,
  attentionTiles,
  ATTENTION_TILE_CANDIDATES,
  type AttentionShapeArgs,
  type AttentionTiles,
} from './attention';
export { MAX_HEAD_DIM } from './limits';
export { crossEntropyForward, crossEntropyBackward, type CrossEntropyForwardArgs, type CrossEntropyBackwardArgs } from './crossentropy';
export { reduceSum, globalNorm } from './norm';
export {
  adamw,
  encodeDecaySegments,
  uploadDecaySegments,
  type AdamWArgs,
  type AdamWHyperparameters,
  type DecaySegment,
  type DecaySegments,
} from './adamw';
export { softmaxForward, softmaxBackward, type SoftmaxArgs } from './softmax';
export { layernormForward, layernormBackward, type LayernormForwardArgs, type LayernormBackwardArgs } from './layernorm';
export { geluForward, geluBackward } from './gelu';
export { add, addInto, scale } from './elementwise';
export { sumBlocksInto, type SumBlocksArgs } from './sumblocks';
export {
  embeddingForward,
  embeddingBackward,
  type EmbeddingShape,
  type EmbeddingForwardArgs,
  type EmbeddingBackwardArgs,
} from './embedding';
export { splitQkv, joinQkv, mergeHeads, splitHeads, type HeadShape } from './heads';
