import { GpuError } from './errors';
import type { Uniforms } from './uniforms';

/** Compile-time parameters of a kernel: tile sizes, transposes, feature switches. */
export type KernelConsts = Record<string, number | boolean>;

/** What a pipeline is built from: a WGSL source from kernels/ and the consts that specialise it. */
export interface KernelSpec {
  /** Names the kernel in errors, labels and profiles, e.g. "matmul". */
  name: string;
  /** WGSL text that uses the consts and `Params` without declaring them; may `#include "file.wgsl"`. */
  source: string;
  /** The WGSL files `#include` may name, by file name (e.g. "attention_common.wgsl"). */
  includes?: Record<string, string>;
  consts?: KernelConsts;
  /** Declares `struct Params`, which the kernel binds after its storage buffers. */
  uniforms?: Uniforms;
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

/** Where a line of the assembled WGSL came from: the preamble, an included file, or (no file) the kernel's source. */
export interface SourceLine {
  file?: string;
  line: number;
}

const PREAMBLE = 'preamble';
/** A line of its own that pulls in another kernel file: `#include "attention_common.wgsl"`. */
const INCLUDE = /^\s*#include\s+"([^"]+)"\s*$/;
/** A global directive on a line of its own: `enable subgroups;`, `requires …;`, `diagnostic(off, …);`. */
const DIRECTIVE = /^\s*(enable|requires|diagnostic)\b[^;]*;\s*$/;

/**
 * The WGSL a spec compiles to: the preamble (consts, `low_t`, `struct Params`), then the
 * source with every `#include` line replaced by the named file from `spec.includes`. Each
 * file is expanded once (a later include of it adds nothing), so included files may include
 * each other. Directives (`enable`, `requires`, `diagnostic`), wherever a file has them, move
 * to the top, each once: WGSL wants them before every declaration, the preamble's included,
 * so a kernel or an include can enable what it uses (an include that needs subgroups says so).
 * `origins[i]` says where line i + 1 came from, for compile errors.
 */
export function assembleWgsl(spec: KernelSpec): { code: string; origins: SourceLine[] } {
  const directives: { text: string; origin: SourceLine }[] = [];
  const body: { text: string; origin: SourceLine }[] = [];
  const add = (text: string, origin: SourceLine) => {
    if (!DIRECTIVE.test(text)) body.push({ text, origin });
    else if (!directives.some((d) => d.text === text.trim())) directives.push({ text: text.trim(), origin });
  };
  const preamble = wgslPreamble(spec.consts ?? {}, spec.f16 ?? false) + (spec.uniforms?.wgsl ?? '');
  for (const [i, text] of preamble.trimEnd().split('\n').entries()) add(text, { file: PREAMBLE, line: i + 1 });
  const expanded = new Set<string>();
  const expand = (text: string, file: string | undefined) => {
    for (const [i, line] of text.split('\n').entries()) {
      const include = INCLUDE.exec(line)?.[1];
      if (include === undefined) {
        add(line, { file, line: i + 1 });
        continue;
      }
      const source = spec.includes?.[include];
      if (source === undefined) {
        const known = Object.keys(spec.includes ?? {}).join(', ') || 'none';
        throw new GpuError(
          spec.name,
          `${where({ file, line: i + 1 })}: #include "${include}" is not among the includes (${known})`,
        );
      }
      if (expanded.has(include)) continue;
      expanded.add(include);
      expand(source, include);
    }
  };
  expand(spec.source, undefined);
  const lines = [...directives, ...body];
  return { code: `${lines.map((l) => l.text).join('\n')}\n`, origins: lines.map((l) => l.origin) };
}

/** "line 12", "attention_common.wgsl line 3" or "preamble line 2". */
function where(origin: SourceLine): string {
  return origin.file ? `${origin.file} line ${origin.line}` : `line ${origin.line}`;
}

/**
 * What makes two specs the same pipeline. The name stands for the kernel's own source; the
 * includes' text counts, since a variant (subgroup or shared-memory reductions) swaps one.
 */
export function specKey(spec: KernelSpec): string {
  const consts = Object.entries(spec.consts ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  const uniforms = Object.entries(spec.uniforms?.fields ?? {});
  const includes = Object.entries(spec.includes ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify([spec.name, spec.entryPoint ?? 'main', spec.f16 ?? false, consts, uniforms, includes]);
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
  const { code, origins } = assembleWgsl(spec);
  const module = device.createShaderModule({ code, label: spec.name });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    const text = errors.map((m) => `${where(origins[m.lineNum - 1] ?? { line: m.lineNum })}: ${m.message}`).join('; ');
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
