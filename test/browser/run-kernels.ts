// Browser-side helpers for the kernel cases: one device per page, kernels run on uploaded
// inputs, outputs compared with the CPU reference. Results are plain JSON for the specs.
import { acquireGpu, type Batch, createBatch, type Gpu, type KernelVariants, readFloats, upload } from '../../src/gpu';
import { compareArrays } from '../harness/compare';

const devices = new Map<string, Promise<Gpu>>();
/**
 * One device per page, as an app would hold, with the adapter's own kernel variants; and one more
 * per set of `variants` a test forces (the same device again for the same set).
 */
export function pageGpu(variants?: Partial<KernelVariants>): Promise<Gpu> {
  const key = JSON.stringify(variants ?? {});
  let gpu = devices.get(key);
  if (!gpu) {
    gpu = acquireGpu({ variants });
    devices.set(key, gpu);
  }
  return gpu;
}

/** Whether the page's device has the optional features that kernel variants need. */
export async function deviceHas(): Promise<Gpu['has']> {
  return (await pageGpu()).has;
}

/** n NaNs: the starting contents of an output every element of which the kernel must write. */
export function unwritten(n: number): Float32Array {
  return new Float32Array(n).fill(NaN);
}

/**
 * Uploads `inputs` and the starting contents of `outputs` (values to accumulate into, or
 * unwritten()), lets `record` add the kernels to one batch, submits it and reads every output back,
 * on the page's device for `variants` (see pageGpu).
 */
export async function runKernels<I extends string, O extends string>(
  inputs: Record<I, Float32Array | Uint32Array>,
  outputs: Record<O, Float32Array>,
  record: (gpu: Gpu, batch: Batch, buffers: Record<I | O, GPUBuffer>) => Promise<void>,
  variants?: Partial<KernelVariants>,
): Promise<Record<O, Float32Array>> {
  const gpu = await pageGpu(variants);
  const buffers: Record<string, GPUBuffer> = {};
  for (const [name, data] of Object.entries<Float32Array | Uint32Array>({ ...inputs, ...outputs }))
    buffers[name] = upload(gpu, data, name);
  try {
    const batch = createBatch(gpu, { label: 'kernel-case' });
    await record(gpu, batch, buffers as Record<I | O, GPUBuffer>);
    await batch.submit();
    const results: Record<string, Float32Array> = {};
    for (const [name, data] of Object.entries<Float32Array>(outputs))
      results[name] = await readFloats(gpu, buffers[name]!, data.length);
    return results as Record<O, Float32Array>;
  } finally {
    for (const buffer of Object.values(buffers)) gpu.pool.release(buffer);
  }
}

/** How one GPU output compares with the CPU reference; within tolerance when worst ≤ 1. */
export interface OutputCheck {
  name: string;
  maxAbsErr: number;
  /** Largest |gpu − cpu| / (atol + rtol·|cpu|); Infinity for a NaN or, in exact checks, any difference. */
  worst: number;
  at: number;
  elements: number;
}

/** Passes when |got − want| ≤ atol + rtol·|want| everywhere (atol > 0). */
export function check(
  name: string,
  got: Float32Array,
  want: ArrayLike<number>,
  atol: number,
  rtol: number,
): OutputCheck {
  return { name, ...compareArrays(got, want, atol, rtol), elements: want.length };
}

/** Passes only when every value matches bit for bit (copies, single roundings). */
export function checkExact(name: string, got: Float32Array, want: Float32Array): OutputCheck {
  const at = got.length === want.length ? want.findIndex((w, i) => got[i] !== w) : 0;
  const maxAbsErr = at < 0 ? 0 : Math.abs((got[at] ?? NaN) - (want[at] ?? NaN));
  return { name, maxAbsErr, worst: at < 0 ? 0 : Infinity, at, elements: want.length };
}

/** Runs each attempt and collects its error message ('no error' when it succeeds): for tests of clear errors. */
export async function errorMessages(attempts: (() => Promise<unknown>)[]): Promise<string[]> {
  const messages: string[] = [];
  for (const attempt of attempts) {
    try {
      await attempt();
      messages.push('no error');
    } catch (e) {
      messages.push((e as Error).message);
    }
  }
  return messages;
}
