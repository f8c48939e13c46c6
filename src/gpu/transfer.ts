import type { Gpu } from './device';

export const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A storage buffer from the pool holding `data`. */
export function upload(gpu: Gpu, data: Float32Array | Uint32Array | Int32Array, label?: string): GPUBuffer {
  const buffer = gpu.pool.acquire(data.byteLength, STORAGE, label);
  gpu.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  return buffer;
}

/** An uninitialised storage buffer from the pool for `floats` f32 values. */
export function storage(gpu: Gpu, floats: number, label?: string): GPUBuffer {
  return gpu.pool.acquire(floats * 4, STORAGE, label);
}

/** Copies `floats` f32 values out of a storage buffer once the GPU has written them. */
export async function readFloats(gpu: Gpu, buffer: GPUBuffer, floats: number): Promise<Float32Array> {
  gpu.assertAlive();
  const bytes = floats * 4;
  const staging = gpu.pool.acquire(bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
  const encoder = gpu.device.createCommandEncoder({ label: 'readback' });
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
  gpu.device.queue.submit([encoder.finish()]);
  try {
    await staging.mapAsync(GPUMapMode.READ, 0, bytes);
  } catch (e) {
    gpu.assertAlive();
    throw e;
  }
  const out = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
  staging.unmap();
  gpu.pool.release(staging);
  return out;
}
