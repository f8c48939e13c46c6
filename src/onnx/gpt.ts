import { type LinearTensors, type NormTensors, type ParamLayout, type TensorSpec, view } from '../model/layout';
import { GELU_CUBIC, LAYERNORM_EPS, SQRT_2_OVER_PI } from '../util/model-constants';
import { encodeOnnxModel, type OnnxInitializer, type OnnxNode } from './model';

/**
 * The GPT as an ONNX model (opset 17), for "try the model": onnxruntime-web runs it with
 * the weights of the flat vector. It computes what gptForwardCpu (src/model/cpu/gpt.ts)
 * computes, op by op:
 *
 *   x = Gather(wte, tokens) + Slice(wpe, 0..T)
 *   per layer:  qkv = LayerNormalization(x)·Wqkv + bqkv,  Split into q, k, v [1, T, C]
 *               each Reshape [1, T, H, D] and Transpose to [1, H, T, D] (k to [1, H, D, T])
 *               P = Softmax(q·kᵀ · 1/√D + mask),  mask[i, j] = −1e9 for j > i, else 0
 *               a = x + (Transpose/Reshape(P·v) [1, T, C])·Wproj + bproj
 *               x = a + gelu(LayerNormalization(a)·Wfc + bfc)·Wproj2 + bproj2
 *   logits = LayerNormalization(x)·Transpose(wte)          (the head is tied to wte)
 *
 * LayerNormalization uses LAYERNORM_EPS over the last axis; GELU is the tanh
 * approximation written out with Mul/Add/Tanh, as geluForwardCpu. The −1e9 mask gives the
 * masked scores exactly zero weight after Softmax's max subtraction (finite, since WGSL
 * need not honour infinities). The mask, the position slice and the reshapes are built
 * from the input's Shape, so one graph serves a fixed and a dynamic sequence length.
 */

/** Names of the exported model's input, `tokens` int64 [1, T], and output, `logits` float32 [1, T, vocab]. */
export const GPT_ONNX_INPUT = 'tokens';
export const GPT_ONNX_OUTPUT = 'logits';

/** Score added above the diagonal before Softmax. */
const MASKED_SCORE = -1e9;

/** Collects nodes and initializers, naming each node's single output after the node. */
class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];

  /** Adds a node with one output called `name` and returns that name. */
  op(op: string, name: string, inputs: string[], attributes?: OnnxNode['attributes']): string {
    this.nodes.push({ op, name, inputs, outputs: [name], ...(attributes ? { attributes } : {}) });
    return name;
  }

  /** A node with several outputs, named `${name}.0` … */
  multi(op: string, name: string, inputs: string[], outputs: number, attributes?: OnnxNode['attributes']): string[] {
    const names = Array.from({ length: outputs }, (_, i) => `${name}.${i}`);
    this.nodes.push({ op, name, inputs, outputs: names, ...(attributes ? { attributes } : {}) });
    return names;
  }

  floats(name: string, dims: number[], data: Float32Array): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (data.length !== size)
      throw new Error(`initializer ${name}: ${data.length} floats for dims [${dims.join(', ')}]`);
    this.initializers.push({ name, dims, data });
    return name;
  }

  /** A float32 scalar (dims []). */
  scalar(name: string, value: number): string {
    return this.floats(name, [], Float32Array.of(value));
  }

  /** An int64 tensor: a scalar when `scalar`, else a vector of the values. */
  ints(name: string, values: number[], scalar = false): string {
    if (scalar && values.length !== 1) throw new Error(`initializer ${name}: a scalar needs one value`);
    this.initializers.push({
      name,
      dims: scalar ? [] : [values.length],
      data: BigInt64Array.from(values, (v) => BigInt(v)),
    });
    return name;
  }
}

/**
 * Serialises the model of `layout` with the weights `params` (the flat vector) as ONNX.
 * `T` fixes the sequence length of `tokens` [1, T] and `logits` [1, T, vocab]
 * (1 ≤ T ≤ context); `'dynamic'` leaves it symbolic (`T`), so one session runs any length
 * up to the context. Positions past the context make onnxruntime fail (the wpe slice is short).
 */
export function exportGptOnnx(layout: ParamLayout, params: Float32Array, T: number | 'dynamic'): Uint8Array {
  const { vocab: V, context, layers, heads: H, width: C } = layout.config;
  if (params.length !== layout.total)
    throw new RangeError(`params has ${params.length} floats, the layout needs ${layout.total}`);
  if (T !== 'dynamic' && (!Number.isInteger(T) || T < 1 || T > context)) {
    throw new RangeError(`sequence length must be an integer in [1, ${context}], got ${T}`);
  }
  const D = C / H;
  const g = new GraphBuilder();
  const P = layout.params;
  /** A copy of one tensor of the flat vector, as an initializer named after it. */
  const weight = (t: TensorSpec): string => g.floats(t.name, t.shape, view(params, t).slice());

  // Constants shared by the layers.
  const zero = g.ints('const.zero', [0], true);
  const one = g.ints('const.one', [1], true);
  const axis0 = g.ints('const.axes0', [0]);
  const axis1 = g.ints('const.axes1', [1]);
  const start0 = g.ints('const.starts0', [0]);
  const toHeads = g.ints('const.shape.heads', [0, 0, H, D]); // 0 copies the input's dim (batch, T)
  const toRows = g.ints('const.shape.rows', [0, 0, C]);
  const qkvSplit = g.ints('const.split.qkv', [C, C, C]);
  const scale = g.scalar('const.attn.scale', 1 / Math.sqrt(D));
  const half = g.scalar('const.half', 0.5);
  const onef = g.scalar('const.one.f', 1);
  const cubic = g.scalar('const.gelu.cubic', GELU_CUBIC);
  const sqrt2pi = g.scalar('const.gelu.sqrt2pi', SQRT_2_OVER_PI);
  const layerNorm = (x: string, n: NormTensors, out: string) =>
    g.op('LayerNormalization', out, [x, weight(n.g), weight(n.b)], {
      axis: -1,
      epsilon: { float: LAYERNORM_EPS },
    });
  /** x·W + b with W [in, out] as stored. */
  const linear = (x: string, w: LinearTensors, out: string) =>
    g.op('Add', out, [g.op('MatMul', `${out}.matmul`, [x, weight(w.w)]), weight(w.b)]);

  // Sequence length from the input: T as a 1-vector and a scalar, positions 0..T-1.
  const seqLen = g.op('Shape', 'seq.len', [GPT_ONNX_INPUT], { start: 1, end: 2 });
  const seqScalar = g.op('Squeeze', 'seq.len.scalar', [seqLen, axis0]);
  const positions = g.op('Range', 'seq.positions', [zero, seqScalar, one]);
  // Causal mask [T, T]: key j after query i gets MASKED_SCORE.
  const queryPos = g.op('Unsqueeze', 'mask.query', [positions, axis1]); // [T, 1]
  const keyPos = g.op('Unsqueeze', 'mask.key', [positions, axis0]); // [1, T]
  const future = g.op('Greater', 'mask.future', [keyPos, queryPos]);
  const mask = g.op('Where', 'mask', [
    future,
    g.scalar('const.mask.masked', MASKED_SCORE),
    g.scalar('const.mask.open', 0),
  ]);

  // Embedding: wte[token] + wpe[t].
  const wte = weight(P.wte);
  const tokEmb = g.op('Gather', 'embed.tokens', [wte, GPT_ONNX_INPUT], { axis: 0 });
  const posEmb = g.op('Slice', 'embed.positions', [weight(P.wpe), start0, seqLen, axis0]);
  let x = g.op('Add', 'embed', [tokEmb, posEmb]);

  for (const [l, w] of P.layers.entries()) {
    const p = `h${l}`; // node names
    const ln1 = layerNorm(x, w.ln1, `${p}.ln1.out`);
    const qkv = linear(ln1, w.attn.qkv, `${p}.qkv`);
    const [q, k, v] = g.multi('Split', `${p}.qkv.split`, [qkv, qkvSplit], 3, { axis: -1 }) as [string, string, string];
    const heads = (t: string, name: string, perm: number[]) =>
      g.op('Transpose', `${p}.${name}.heads`, [g.op('Reshape', `${p}.${name}.reshape`, [t, toHeads])], { perm });
    const qh = heads(q, 'q', [0, 2, 1, 3]); // [1, H, T, D]
    const kt = heads(k, 'k', [0, 2, 3, 1]); // [1, H, D, T]
    const vh = heads(v, 'v', [0, 2, 1, 3]); // [1, H, T, D]
    const scores = g.op('Mul', `${p}.attn.scores`, [g.op('MatMul', `${p}.attn.qk`, [qh, kt]), scale]);
    const probs = g.op('Softmax', `${p}.attn.probs`, [g.op('Add', `${p}.attn.masked`, [scores, mask])], { axis: -1 });
    const o = g.op('MatMul', `${p}.attn.o`, [probs, vh]); // [1, H, T, D]
    const merged = g.op('Reshape', `${p}.attn.merged`, [
      g.op('Transpose', `${p}.attn.o.tokens`, [o], { perm: [0, 2, 1, 3] }),
      toRows,
    ]);
    const afterAttn = g.op('Add', `${p}.after.attn`, [x, linear(merged, w.attn.proj, `${p}.attn.proj.out`)]);

    const ln2 = layerNorm(afterAttn, w.ln2, `${p}.ln2.out`);
    const fc = linear(ln2, w.mlp.fc, `${p}.fc`);
    // gelu(u) = 0.5·u·(1 + tanh(√(2/π)·(u + GELU_CUBIC·u³)))
    const cube = g.op('Mul', `${p}.gelu.cube`, [g.op('Mul', `${p}.gelu.square`, [fc, fc]), fc]);
    const inner = g.op('Add', `${p}.gelu.inner`, [fc, g.op('Mul', `${p}.gelu.cubic`, [cube, cubic])]);
    const tanh = g.op('Tanh', `${p}.gelu.tanh`, [g.op('Mul', `${p}.gelu.arg`, [inner, sqrt2pi])]);
    const gate = g.op('Add', `${p}.gelu.gate`, [tanh, onef]);
    const gelu = g.op('Mul', `${p}.gelu`, [g.op('Mul', `${p}.gelu.half`, [fc, half]), gate]);
    x = g.op('Add', `${p}.out`, [afterAttn, linear(gelu, w.mlp.proj, `${p}.mlp.proj.out`)]);
  }

  const lnf = layerNorm(x, P.lnf, 'lnf.out');
  const wteT = g.op('Transpose', 'head.w', [wte], { perm: [1, 0] }); // [C, V]: folded to a constant by onnxruntime
  g.op('MatMul', GPT_ONNX_OUTPUT, [lnf, wteT]);

  const seq = T === 'dynamic' ? 'T' : T;
  return encodeOnnxModel({
    name: `vgpu-gpt-${layers}x${C}`,
    opset: 17,
    inputs: [{ name: GPT_ONNX_INPUT, type: 'int64', shape: [1, seq] }],
    outputs: [{ name: GPT_ONNX_OUTPUT, type: 'float32', shape: [1, seq, V] }],
    nodes: g.nodes,
    initializers: g.initializers,
  });
}
