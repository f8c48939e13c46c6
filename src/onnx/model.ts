import { bytes, concat, type Field, float, int, packedInts, string } from './protobuf';

// Field numbers and enums from onnx/onnx.proto (IR version 8).
const ELEM_FLOAT = 1;
const ELEM_INT64 = 7;
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

export type ElemType = 'float32' | 'int64';
const elemCode = (t: ElemType) => (t === 'float32' ? ELEM_FLOAT : ELEM_INT64);

/** A graph input or output: a name, an element type and a shape (numbers, or names for symbolic dims). */
export interface OnnxValue {
  name: string;
  type?: ElemType;
  shape: (number | string)[];
}

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attributes?: Record<string, number | string | number[] | { float: number }>;
}

/** A constant tensor stored in the model (weights). */
export interface OnnxInitializer {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

export interface OnnxGraph {
  name: string;
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  nodes: OnnxNode[];
  initializers?: OnnxInitializer[];
  /** Default opset version of the ai.onnx domain. */
  opset?: number;
  /** Extra domains, e.g. { 'com.microsoft': 1 } for contrib ops. */
  domains?: Record<string, number>;
}

function valueInfo(v: OnnxValue): Field[] {
  const dims = v.shape.map((d) => bytes(1, [typeof d === 'number' ? int(1, d) : string(2, d)]));
  const tensorType = [int(1, elemCode(v.type ?? 'float32')), bytes(2, dims)];
  return [string(1, v.name), bytes(2, [bytes(1, tensorType)])];
}

function attribute(name: string, value: NonNullable<OnnxNode['attributes']>[string]): Field[] {
  if (typeof value === 'number') return [string(1, name), int(3, value), int(20, ATTR.INT)];
  if (typeof value === 'string') return [string(1, name), string(4, value), int(20, ATTR.STRING)];
  if (Array.isArray(value)) return [string(1, name), packedInts(8, value), int(20, ATTR.INTS)];
  return [string(1, name), float(2, value.float), int(20, ATTR.FLOAT)];
}

function node(n: OnnxNode, index: number): Field[] {
  return [
    ...n.inputs.map((i) => string(1, i)),
    ...n.outputs.map((o) => string(2, o)),
    string(3, n.name ?? `${n.op}_${index}`),
    string(4, n.op),
    ...Object.entries(n.attributes ?? {}).map(([k, v]) => bytes(5, attribute(k, v))),
    ...(n.domain ? [string(7, n.domain)] : []),
  ];
}

function initializer(t: OnnxInitializer): Field[] {
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const type = t.data instanceof Float32Array ? ELEM_FLOAT : ELEM_INT64;
  return [packedInts(1, t.dims), int(2, type), string(8, t.name), bytes(9, raw)];
}

/** Serialises a graph as an ONNX ModelProto that onnxruntime-web can load. */
export function encodeOnnxModel(g: OnnxGraph): Uint8Array {
  const graph = [
    ...g.nodes.map((n, i) => bytes(1, node(n, i))),
    string(2, g.name),
    ...(g.initializers ?? []).map((t) => bytes(5, initializer(t))),
    ...g.inputs.map((v) => bytes(11, valueInfo(v))),
    ...g.outputs.map((v) => bytes(12, valueInfo(v))),
  ];
  const opsets = [bytes(8, [string(1, ''), int(2, g.opset ?? 17)])];
  for (const [domain, version] of Object.entries(g.domains ?? {}))
    opsets.push(bytes(8, [string(1, domain), int(2, version)]));
  return concat([int(1, 8), ...opsets, string(2, 'vgpu'), string(3, '0.1.0'), bytes(7, graph)]);
}
