import type { Gpu } from './device';

const placeholders = new WeakMap<Gpu, GPUBuffer>();

/**
 * A small storage buffer to bind where a kernel variant declares a binding it never
 * touches (layout 'auto' needs every declared binding filled). One per device, never written.
 */
export function unusedBinding(gpu: Gpu): GPUBuffer {
  let buffer = placeholders.get(gpu);
  if (!buffer) {
    buffer = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE, label: 'unused-binding' });
    placeholders.set(gpu, buffer);
  }
  return buffer;
}
