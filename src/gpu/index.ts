// The GPU runtime: device, buffers, pipelines, batched dispatch, profiling, and the kernel launchers.
// Knows nothing about models.
export { acquireGpu, webgpuUnavailableMessage, type AcquireOptions, type AdapterSummary, type Gpu } from './device';
export { GpuError, GpuDeviceLostError, withErrorScope } from './errors';
export { createBufferPool, sizeClass, type BufferPool, type BufferPoolStats } from './buffers';
export { createPipelineCache, wgslPreamble, type KernelConsts, type KernelSpec, type PipelineCache } from './pipelines';
export { createBatch, MAX_PROFILED_DISPATCHES, type Batch, type BatchProfile, type DispatchSpec, type KernelTiming } from './batch';
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
