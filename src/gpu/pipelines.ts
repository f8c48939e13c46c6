import { GpuError } from './errors';

/** Compile-time parameters of a kernel: tile sizes, transposes, feature switches. */
export type KernelConsts = Record<string, number | boolean>;

/** What a pipeline is built from: a WGSL source from kernels/ and the consts that specialise it. */
export interface KernelSpec {
  /** Names the kernel in errors, labels and profiles, e.g. "matmul". */
  name: string;
  /** WGSL text that uses the consts without declaring them. */
  source: string;
  consts?: KernelConsts;
  /** Adds `enable f16;` and makes `low_t` f16; only valid on a device with shader-f16. */
  f16?: boolean;
  entryPoint?: string;
}

/**
 * Turns consts into WGSL declarations placed before the source. Integers become u32
 * (the kernels index with u32), booleans stay bool, other numbers become f32.
 * Const (not override) declarations are used because register-tile array sizes
 * must be creation-time constants. Every kernel also gets `low_t`, the storage type
 * of its reduced-precision path: f16 where enabled, else f32 (the fallback).
 */
export function wgslPreamble(consts: KernelConsts, f16: boolean): string {
  const lines = f16 ? ['enable f16;', 'alias low_t = f16;'] : ['alias low_t = f32;'];
  for (const [name, value] of Object.entries(consts)) {
    let literal: string;
    if (typeof value === 'boolean') literal = String(value);
    else if (Number.isInteger(value) && value >= 0) literal = `${value}u`;
    else literal = `${value}f`;
    lines.push(`const ${name} = ${literal};`);
  }
  return `${lines.join('\n')}\n`;
}

export function specKey(spec: KernelSpec): string {
  const consts = Object.entries(spec.consts ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify([spec.name, spec.entryPoint ?? 'main', spec.f16 ?? false, consts]);
}

/** Compiled pipelines keyed by kernel and parameters; each is compiled once per device. */
export interface PipelineCache {
  get(spec: KernelSpec): Promise<GPUComputePipeline>;
  readonly size: number;
}

export function createPipelineCache(device: GPUDevice): PipelineCache {
  const cache = new Map<string, Promise<GPUComputePipeline>>();
  return {
    get(spec) {
      const key = specKey(spec);
      let pipeline = cache.get(key);
      if (!pipeline) {
        pipeline = compile(device, spec);
        // A failed compile is not cached, so a caller can retry with other parameters.
        pipeline.catch(() => cache.delete(key));
        cache.set(key, pipeline);
      }
      return pipeline;
    },
    get size() {
      return cache.size;
    },
  };
}

async function compile(device: GPUDevice, spec: KernelSpec): Promise<GPUComputePipeline> {
  const preamble = wgslPreamble(spec.consts ?? {}, spec.f16 ?? false);
  const code = preamble + spec.source;
  const module = device.createShaderModule({ code, label: spec.name });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    const preambleLines = preamble.split('\n').length - 1;
    const where = (line: number) => (line > preambleLines ? `line ${line - preambleLines}` : `preamble line ${line}`);
    const text = errors.map((m) => `${where(m.lineNum)}: ${m.message}`).join('; ');
    throw new GpuError(spec.name, `WGSL compile failed: ${text}`);
  }
  try {
    return await device.createComputePipelineAsync({
      label: spec.name,
      layout: 'auto',
      compute: { module, entryPoint: spec.entryPoint ?? 'main' },
    });
  } catch (e) {
    throw new GpuError(spec.name, `pipeline creation failed: ${(e as Error).message}`);
  }
}
