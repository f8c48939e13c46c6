import { type GptConfig, validateConfig } from './config';

/**
 * The flat parameter layout, version 1. Every parameter lives in ONE Float32Array, so a
 * weight shard is a byte range and a federated update is a flat vector. Tensors are
 * laid out in this order, each starting on a 64-float (256-byte) boundary so the GPU
 * can bind it at an offset (WebGPU's minStorageBufferOffsetAlignment); the gaps are zero.
 *
 *   wte [vocab, width]          token embedding, also the output head (tied)
 *   wpe [context, width]        position embedding
 *   per layer l = 0..layers-1, prefix `h{l}.`:
 *     ln1.g [C], ln1.b [C]
 *     attn.qkv.w [C, 3C], attn.qkv.b [3C]     y = x·W + b, W stored [in, out]
 *     attn.proj.w [C, C], attn.proj.b [C]
 *     ln2.g [C], ln2.b [C]
 *     mlp.fc.w [C, 4C], mlp.fc.b [4C]
 *     mlp.proj.w [4C, C], mlp.proj.b [C]
 *   lnf.g [C], lnf.b [C]
 *
 * Matrices (two-dimensional tensors) take weight decay; vectors do not.
 */
export const LAYOUT_VERSION = 1;

/** Floats per alignment unit: 256 bytes. */
export const TENSOR_ALIGN = 64;

export interface TensorSpec {
  name: string;
  offset: number;
  shape: number[];
  /** Number of floats (product of shape). */
  size: number;
  decay: boolean;
}

export interface ParamLayout {
  version: number;
  config: GptConfig;
  tensors: TensorSpec[];
  /** Length of the flat vector, padding included. */
  total: number;
}

export function layerTensorShapes(C: number): [string, number[]][] {
  return [
    ['ln1.g', [C]],
    ['ln1.b', [C]],
    ['attn.qkv.w', [C, 3 * C]],
    ['attn.qkv.b', [3 * C]],
    ['attn.proj.w', [C, C]],
    ['attn.proj.b', [C]],
    ['ln2.g', [C]],
    ['ln2.b', [C]],
    ['mlp.fc.w', [C, 4 * C]],
    ['mlp.fc.b', [4 * C]],
    ['mlp.proj.w', [4 * C, C]],
    ['mlp.proj.b', [C]],
  ];
}

export function paramLayout(config: GptConfig): ParamLayout {
  validateConfig(config);
  const C = config.width;
  const shapes: [string, number[]][] = [
    ['wte', [config.vocab, C]],
    ['wpe', [config.context, C]],
  ];
  for (let l = 0; l < config.layers; l++) {
    for (const [name, shape] of layerTensorShapes(C)) shapes.push([`h${l}.${name}`, shape]);
  }
  shapes.push(['lnf.g', [C]], ['lnf.b', [C]]);
  let offset = 0;
  const tensors = shapes.map(([name, shape]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const spec = { name, offset, shape, size, decay: shape.length >= 2 };
    offset += Math.ceil(size / TENSOR_ALIGN) * TENSOR_ALIGN;
    return spec;
  });
  return { version: LAYOUT_VERSION, config, tensors, total: offset };
}

/** The tensor called `name`; throws on an unknown name. */
export function tensor(layout: ParamLayout, name: string): TensorSpec {
  const spec = layout.tensors.find((t) => t.name === name);
  if (!spec) throw new Error(`no tensor ${name} in parameter layout v${layout.version}`);
  return spec;
}

/** A view of one tensor inside the flat vector (no copy). */
export function view(flat: Float32Array, spec: TensorSpec): Float32Array {
  return flat.subarray(spec.offset, spec.offset + spec.size);
}

/**
 * Weight-decay segments covering the whole flat vector [0, total): each tensor with the
 * alignment gap after it (whose gradient is always zero, so AdamW leaves it at zero).
 */
export function decaySegments(layout: ParamLayout): { offset: number; length: number; decay: boolean }[] {
  return layout.tensors.map((t, i) => {
    const end = layout.tensors[i + 1]?.offset ?? layout.total;
    return { offset: t.offset, length: end - t.offset, decay: t.decay };
  });
}

/** Parameter count without padding. */
export function parameterCount(layout: ParamLayout): number {
  return layout.tensors.reduce((n, t) => n + t.size, 0);
}
