import type { Gpu } from './device';
import { GpuError, withErrorScope } from './errors';

/**
 * A kernel operand: a whole buffer, or a range of one ({ buffer, offset, size }, offset a
 * multiple of 256 bytes) such as one tensor inside the flat parameter buffer.
 */
export type BufferRef = GPUBuffer | GPUBufferBinding;

/** Bytes a kernel can address through `ref`. */
export function byteSize(ref: BufferRef): number {
  return 'buffer' in ref ? (ref.size ?? ref.buffer.size - (ref.offset ?? 0)) : ref.size;
}

/** One kernel launch. Bindings follow one convention: storage buffers at @group(0) @binding(0..n-1), params after them. */
export interface DispatchSpec {
  /** Names the kernel in errors and profiles. */
  kernel: string;
  pipeline: GPUComputePipeline;
  buffers: BufferRef[];
  /** Packed uniform parameters, bound at @binding(buffers.length). */
  params?: ArrayBuffer | ArrayBufferView<ArrayBuffer>;
  workgroups: [number, number?, number?];
}

export interface KernelTiming {
  kernel: string;
  ns: number;
}

export interface BatchProfile {
  /** 'timestamp' when the GPU timed each dispatch; 'wallclock' times submit to completion on the CPU. */
  clock: 'timestamp' | 'wallclock';
  totalNs: number;
  /** One entry per dispatch, in order; empty for the wall clock. */
  kernels: KernelTiming[];
}

/**
 * Records dispatches into one command buffer and submits them together: one
 * submit per training step, not one per kernel. With `profile`, each dispatch
 * gets its own compute pass with timestamp writes (when the device has
 * timestamp-query) so per-kernel GPU time can be read back.
 */
export interface Batch {
  dispatch(spec: DispatchSpec): void;
  copy(
    source: GPUBuffer,
    destination: GPUBuffer,
    bytes: number,
    sourceOffset?: number,
    destinationOffset?: number,
  ): void;
  /** A storage buffer for intermediate results of this batch; returned to the pool when the batch is submitted. */
  scratch(bytes: number, label?: string): GPUBuffer;
  /** Zeroes `bytes` (all when omitted) of a buffer, in order with the dispatches around it. */
  clear(buffer: GPUBuffer, offset?: number, bytes?: number): void;
  /** Finishes and submits; throws a GpuError naming the batch and its kernels if validation failed. */
  submit(): Promise<void>;
  /** After submit: waits for the GPU and returns the timings. Needs `profile: true`. */
  profile(): Promise<BatchProfile>;
}

/** A query set holds at most this many timestamps (WebGPU's limit), two per profiled dispatch. */
export const MAX_PROFILED_DISPATCHES = 2048;

export function createBatch(gpu: Gpu, options: { label: string; profile?: boolean }): Batch {
  gpu.assertAlive();
  const { device, pool } = gpu;
  const label = options.label;
  const encoder = device.createCommandEncoder({ label });
  const timestamps = options.profile === true && gpu.has.timestamps;
  const kernels: string[] = [];
  /** Pool buffers that live until submit: uniforms, scratch, timestamp resolves. */
  const transient: GPUBuffer[] = [];
  let pass: GPUComputePassEncoder | undefined;
  let submitted = false;
  let wallStart = 0;
  let wallEnd: Promise<number> | undefined;
  let readback: GPUBuffer | undefined;
  let querySet: GPUQuerySet | undefined;

  const endPass = () => {
    pass?.end();
    pass = undefined;
  };

  const maxGroups = gpu.limits.maxComputeWorkgroupsPerDimension;

  return {
    dispatch(spec) {
      if (submitted) throw new Error(`batch ${label} was already submitted`);
      const [x, y = 1, z = 1] = spec.workgroups;
      if (x > maxGroups || y > maxGroups || z > maxGroups) {
        throw new GpuError(
          spec.kernel,
          `dispatch ${x}x${y}x${z} exceeds maxComputeWorkgroupsPerDimension ${maxGroups}`,
        );
      }
      if (x === 0 || y === 0 || z === 0) return;
      const entries: GPUBindGroupEntry[] = spec.buffers.map((ref, binding) => ({
        binding,
        resource: 'buffer' in ref ? ref : { buffer: ref },
      }));
      if (spec.params) {
        const data = spec.params instanceof ArrayBuffer ? new Uint8Array(spec.params) : spec.params;
        const uniform = pool.acquire(data.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'params');
        device.queue.writeBuffer(uniform, 0, data.buffer, data.byteOffset, data.byteLength);
        transient.push(uniform);
        entries.push({
          binding: spec.buffers.length,
          resource: { buffer: uniform, size: Math.ceil(data.byteLength / 16) * 16 },
        });
      }
      const bindGroup = device.createBindGroup({
        layout: spec.pipeline.getBindGroupLayout(0),
        entries,
        label: spec.kernel,
      });
      const run = (p: GPUComputePassEncoder) => {
        p.setPipeline(spec.pipeline);
        p.setBindGroup(0, bindGroup);
        p.dispatchWorkgroups(x, y, z);
      };
      if (timestamps) {
        if (kernels.length >= MAX_PROFILED_DISPATCHES) {
          throw new GpuError(label, `more than ${MAX_PROFILED_DISPATCHES} dispatches in one profiled batch`);
        }
        querySet ??= device.createQuerySet({ type: 'timestamp', count: 2 * MAX_PROFILED_DISPATCHES, label });
        const i = kernels.length;
        const p = encoder.beginComputePass({
          label: spec.kernel,
          timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
        });
        run(p);
        p.end();
      } else {
        pass ??= encoder.beginComputePass({ label });
        run(pass);
      }
      kernels.push(spec.kernel);
    },

    copy(source, destination, bytes, sourceOffset = 0, destinationOffset = 0) {
      endPass();
      encoder.copyBufferToBuffer(source, sourceOffset, destination, destinationOffset, bytes);
    },

    scratch(bytes, scratchLabel) {
      if (submitted) throw new Error(`batch ${label} was already submitted`);
      const buffer = pool.acquire(
        bytes,
        GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        scratchLabel,
      );
      transient.push(buffer);
      return buffer;
    },

    clear(buffer, offset = 0, bytes) {
      if (submitted) throw new Error(`batch ${label} was already submitted`);
      endPass();
      encoder.clearBuffer(buffer, offset, bytes);
    },

    async submit() {
      if (submitted) throw new Error(`batch ${label} was already submitted`);
      submitted = true;
      gpu.assertAlive();
      endPass();
      const count = kernels.length;
      if (querySet && count > 0) {
        const resolve = pool.acquire(16 * count, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'timestamps');
        readback = pool.acquire(16 * count, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'timestamps-read');
        encoder.resolveQuerySet(querySet, 0, 2 * count, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, readback, 0, 16 * count);
        transient.push(resolve);
      }
      const what = `${label} [${[...new Set(kernels)].join(', ')}]`;
      await withErrorScope(device, what, () => {
        wallStart = performance.now();
        device.queue.submit([encoder.finish({ label })]);
      });
      if (options.profile) wallEnd = device.queue.onSubmittedWorkDone().then(() => performance.now());
      for (const buffer of transient) pool.release(buffer);
    },

    async profile() {
      if (!submitted || !wallEnd) throw new Error(`batch ${label}: profile() needs profile: true and submit() first`);
      const end = await wallEnd;
      gpu.assertAlive();
      if (!readback || !querySet) return { clock: 'wallclock', totalNs: (end - wallStart) * 1e6, kernels: [] };
      await readback.mapAsync(GPUMapMode.READ);
      const ticks = new BigUint64Array(readback.getMappedRange(), 0, 2 * kernels.length);
      const timings = kernels.map((kernel, i) => {
        const [begin = 0n, end = 0n] = ticks.subarray(2 * i, 2 * i + 2);
        return { kernel, ns: Math.max(0, Number(end - begin)) };
      });
      readback.unmap();
      pool.release(readback);
      querySet.destroy();
      readback = undefined;
      return { clock: 'timestamp', totalNs: timings.reduce((s, t) => s + t.ns, 0), kernels: timings };
    },
  };
}
