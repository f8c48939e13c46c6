// Argument checks shared by the kernel launchers: clear errors before anything reaches the GPU.
import { type BufferRef, byteSize } from './batch';
import { GpuError } from './errors';

/** Throws unless every named size is a positive integer. */
export function requireSizes(kernel: string, sizes: Record<string, number>): void {
  for (const [name, value] of Object.entries(sizes)) {
    if (!Number.isInteger(value) || value < 1)
      throw new GpuError(kernel, `${name} must be a positive integer, got ${value}`);
  }
}

/** Throws unless `buffer` holds `elements` 4-byte values (f32 or u32); `shape` says where the count comes from. */
export function requireElements(
  kernel: string,
  label: string,
  buffer: BufferRef,
  elements: number,
  shape: string,
): void {
  if (byteSize(buffer) < elements * 4) {
    throw new GpuError(kernel, `${label} holds ${byteSize(buffer)} bytes, needs ${elements * 4} for ${shape}`);
  }
}

/** requireElements for every named buffer of a group that must each hold `elements` values. */
export function requireAll(kernel: string, buffers: Record<string, BufferRef>, elements: number, shape: string): void {
  for (const [label, buffer] of Object.entries(buffers)) requireElements(kernel, label, buffer, elements, shape);
}
