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
  /** The dotted name above (`h0.ln1.g`): for diagnostics and exported files, never for lookup. */
  name: string;
  offset: number;
  shape: number[];
  /** Number of floats (product of shape). */
  size: number;
  decay: boolean;
}

/** A linear layer y = x·W + b: W [in, out], b [out]. */
export interface LinearTensors {
  w: TensorSpec;
  b: TensorSpec;
}

/** A LayerNorm's gain and bias, each [C]. */
export interface NormTensors {
  g: TensorSpec;
  b: TensorSpec;
}

/** One transformer block's tensors. */
export interface LayerTensors {
  ln1: NormTensors;
  attn: { qkv: LinearTensors; proj: LinearTensors };
  ln2: NormTensors;
  mlp: { fc: LinearTensors; proj: LinearTensors };
}

/**
 * Every tensor of the flat vector by its role, as llm.c's ParameterTensors: code says
 * `P.layers[l].ln1.g`, never a name. The same TensorSpec objects as `ParamLayout.tensors`.
 */
export interface ParamTensors {
  wte: TensorSpec;
  wpe: TensorSpec;
  layers: LayerTensors[];
  lnf: NormTensors;
}

export interface ParamLayout {
  version: number;
  config: GptConfig;
  /** Every tensor in layout order. */
  tensors: TensorSpec[];
  /** The same tensors by role. */
  params: ParamTensors;
  /** Length of the flat vector, padding included. */
  total: number;
}

export function paramLayout(config: GptConfig): ParamLayout {
  validateConfig(config);
  const { vocab: V, context, layers: L, width: C } = config;
  const tensors: TensorSpec[] = [];
  let offset = 0;
  /** Places the next tensor: the order of calls below is the layout's order. */
  const place = (name: string, shape: number[]): TensorSpec => {
    const size = shape.reduce((a, b) => a * b, 1);
    const spec = { name, offset, shape, size, decay: shape.length >= 2 };
    tensors.push(spec);
    offset += Math.ceil(size / TENSOR_ALIGN) * TENSOR_ALIGN;
    return spec;
  };
  const norm = (name: string): NormTensors => ({ g: place(`${name}.g`, [C]), b: place(`${name}.b`, [C]) });
  const linear = (name: string, nIn: number, nOut: number): LinearTensors => ({
    w: place(`${name}.w`, [nIn, nOut]),
    b: place(`${name}.b`, [nOut]),
  });

  const wte = place('wte', [V, C]);
  const wpe = place('wpe', [context, C]);
  const layers: LayerTensors[] = [];
  for (let l = 0; l < L; l++) {
    const ln1 = norm(`h${l}.ln1`);
    const qkv = linear(`h${l}.attn.qkv`, C, 3 * C);
    const attnProj = linear(`h${l}.attn.proj`, C, C);
    const ln2 = norm(`h${l}.ln2`);
    const fc = linear(`h${l}.mlp.fc`, C, 4 * C);
    const mlpProj = linear(`h${l}.mlp.proj`, 4 * C, C);
    layers.push({ ln1, attn: { qkv, proj: attnProj }, ln2, mlp: { fc, proj: mlpProj } });
  }
  const lnf = norm('lnf');
  return { version: LAYOUT_VERSION, config, tensors, params: { wte, wpe, layers, lnf }, total: offset };
}

/** A view of one tensor inside the flat vector (no copy). */
export function view(flat: Float32Array, spec: TensorSpec): Float32Array {
  return flat.subarray(spec.offset, spec.offset + spec.size);
}

/** A range of the flat vector (a tensor with the gap after it) and whether weight decay applies to it. */
export interface DecaySegment {
  offset: number;
  length: number;
  decay: boolean;
}

/**
 * Weight-decay segments covering the whole flat vector [0, total): each tensor with the
 * alignment gap after it (whose gradient is always zero, so AdamW leaves it at zero).
 */
export function decaySegments(layout: ParamLayout): DecaySegment[] {
  return layout.tensors.map((t, i) => {
    const end = layout.tensors[i + 1]?.offset ?? layout.total;
    return { offset: t.offset, length: end - t.offset, decay: t.decay };
  });
}

/** Parameter count without padding. */
export function parameterCount(layout: ParamLayout): number {
  return layout.tensors.reduce((n, t) => n + t.size, 0);
}
