/**
 * A buffer pool: GPU buffers are expensive to create, so released buffers are kept
 * by (usage, size class) and handed out again. Sizes round up to a size class so
 * that buffers of nearby sizes are shared; callers must respect their logical size.
 */
export interface BufferPool {
  acquire(bytes: number, usage: GPUBufferUsageFlags, label?: string): GPUBuffer;
  /** Returns a buffer for reuse. Safe right after submitting work that uses it: later writes queue after that work. */
  release(buffer: GPUBuffer): void;
  stats(): BufferPoolStats;
  /** Starts a new peak measurement from the current live bytes. */
  resetPeak(): void;
  /** Destroys every buffer the pool has made, free or not. */
  destroy(): void;
}

export interface BufferPoolStats {
  /** Bytes of buffers handed out and not yet released. */
  liveBytes: number;
  /** Highest liveBytes seen since creation or the last resetPeak. */
  peakBytes: number;
  /** Bytes held in free lists. */
  freeBytes: number;
}

/** Below this, sizes round to 256 bytes; above, to the next power of two. */
const SMALL_BUFFER_BYTES = 64 * 1024;
const MIN_BUFFER_BYTES = 256;

export function sizeClass(bytes: number): number {
  const b = Math.max(MIN_BUFFER_BYTES, Math.ceil(bytes));
  // Both branches give a multiple of 4, as WebGPU requires for mapped and copied buffers.
  if (b <= SMALL_BUFFER_BYTES) return Math.ceil(b / 256) * 256;
  return 2 ** Math.ceil(Math.log2(b));
}

export function createBufferPool(device: GPUDevice, maxBufferBytes: number): BufferPool {
  const free = new Map<string, GPUBuffer[]>();
  const all = new Set<GPUBuffer>();
  const live = new Set<GPUBuffer>();
  let liveBytes = 0;
  let peakBytes = 0;
  let freeBytes = 0;

  return {
    acquire(bytes, usage, label) {
      if (bytes > maxBufferBytes) {
        throw new RangeError(`buffer of ${bytes} bytes exceeds the device's maxBufferSize (${maxBufferBytes})`);
      }
      // A power-of-two class may exceed the device limit although the request does not.
      const size = Math.min(sizeClass(bytes), maxBufferBytes - (maxBufferBytes % 4));
      const key = `${usage}:${size}`;
      let buffer = free.get(key)?.pop();
      if (buffer) freeBytes -= buffer.size;
      else {
        buffer = device.createBuffer({ size, usage, label });
        all.add(buffer);
      }
      live.add(buffer);
      liveBytes += buffer.size;
      peakBytes = Math.max(peakBytes, liveBytes);
      return buffer;
    },
    release(buffer) {
      if (!live.delete(buffer)) throw new Error(`buffer ${buffer.label || '(unlabelled)'} is not live in this pool`);
      liveBytes -= buffer.size;
      freeBytes += buffer.size;
      const key = `${buffer.usage}:${buffer.size}`;
      const list = free.get(key);
      if (list) list.push(buffer);
      else free.set(key, [buffer]);
    },
    stats() {
      return { liveBytes, peakBytes, freeBytes };
    },
    resetPeak() {
      peakBytes = liveBytes;
    },
    destroy() {
      for (const buffer of all) buffer.destroy();
      all.clear();
      live.clear();
      free.clear();
      liveBytes = freeBytes = 0;
    },
  };
}
