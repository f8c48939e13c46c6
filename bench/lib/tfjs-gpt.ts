// The same GPT as src/model/cpu/gpt.ts, built from TensorFlow.js ops so the train benchmark can
// run it on tfjs's WebGPU backend: pre-LayerNorm GPT-2, tanh GELU, tied head, W stored [in, out].
// Parameters start from the same flat vector as ours (layout v1), so both see the same init.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients (the @tensorflow/tfjs bundle does); training needs them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { type LinearTensors, type NormTensors, type ParamLayout, type TensorSpec, view } from '../../src/model/layout';
import { GELU_CUBIC, LAYERNORM_EPS, SQRT_2_OVER_PI } from '../../src/util/model-constants';

/** Plain Adam's settings (tfjs has no AdamW: no weight decay, no gradient clipping). */
export interface TfAdam {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export interface TfGpt {
  /** One training step (forward, backward, Adam) on B·T tokens; returns the loss before the update (the caller disposes it). */
  step(inputs: Uint32Array, targets: Uint32Array): tf.Scalar;
  dispose(): void;
}

function layernorm(x: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, LAYERNORM_EPS))), gamma), beta);
}

function gelu(x: tf.Tensor2D): tf.Tensor2D {
  const inner = tf.mul(SQRT_2_OVER_PI, tf.add(x, tf.mul(GELU_CUBIC, tf.mul(x, tf.mul(x, x)))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

/** The GPT of `layout` for batches of B sequences of T tokens, its variables set from `flat`. */
export function createTfGpt(
  layout: ParamLayout,
  flat: Float32Array,
  shape: { B: number; T: number },
  adam: TfAdam,
): TfGpt {
  const { B, T } = shape;
  const { vocab: V, heads: H, width: C } = layout.config;
  const D = C / H;
  const N = B * T;
  const P = layout.params;
  const vars = new Map(layout.tensors.map((t) => [t, tf.variable(tf.tensor(view(flat, t).slice(), t.shape))]));
  const p = (t: TensorSpec): tf.Variable => {
    const v = vars.get(t);
    if (!v) throw new Error(`no tensor ${t.name} in the tfjs GPT`);
    return v;
  };
  // Additive causal mask: −1e9 above the diagonal, so softmax gives future positions zero weight.
  const maskValues = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) maskValues[i * T + j] = -1e9;
  const mask = tf.tensor2d(maskValues, [T, T]);
  const optimizer = tf.train.adam(adam.lr, adam.beta1, adam.beta2, adam.eps);

  const linear = (x: tf.Tensor2D, w: LinearTensors): tf.Tensor2D => tf.add(tf.matMul(x, p(w.w)), p(w.b));
  const norm = (x: tf.Tensor2D, n: NormTensors): tf.Tensor2D => layernorm(x, p(n.g), p(n.b));

  /** Causal multi-head attention of qkv [N, 3C] (columns [3, H, D]) → [N, C] with heads merged. */
  const attention = (qkv: tf.Tensor2D): tf.Tensor2D => {
    const toHeads = (x: tf.Tensor) => tf.transpose(tf.reshape(x, [B, T, H, D]), [0, 2, 1, 3]);
    const [q, k, v] = tf.split(qkv, 3, 1).map(toHeads) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(D)), mask);
    const o = tf.matMul(tf.softmax(scores), v);
    return tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [N, C]);
  };

  /** Mean cross-entropy of the next-token predictions; runs inside the optimiser's gradient tape. */
  const loss = (inputs: tf.Tensor1D, targets: tf.Tensor1D): tf.Scalar => {
    const positions = tf.slice(p(P.wpe), [0, 0], [T, C]);
    let x = tf.reshape(tf.add(tf.reshape(tf.gather(p(P.wte), inputs), [B, T, C]), positions), [N, C]) as tf.Tensor2D;
    for (const w of P.layers) {
      const a: tf.Tensor2D = tf.add(x, linear(attention(linear(norm(x, w.ln1), w.attn.qkv)), w.attn.proj));
      x = tf.add(a, linear(gelu(linear(norm(a, w.ln2), w.mlp.fc)), w.mlp.proj));
    }
    // Tied head: logits = lnf(x)·wteᵀ.
    const logits = tf.matMul(norm(x, P.lnf), p(P.wte), false, true);
    const labels = tf.cast(tf.oneHot(targets, V), 'float32');
    return tf.losses.softmaxCrossEntropy(labels, logits);
  };

  return {
    step(inputs, targets) {
      if (inputs.length !== N || targets.length !== N)
        throw new Error(`inputs and targets must hold B·T = ${N} tokens`);
      // The batch is uploaded every step, as ours does.
      const x = tf.tensor1d(Int32Array.from(inputs), 'int32');
      const y = tf.tensor1d(Int32Array.from(targets), 'int32');
      const cost = optimizer.minimize(() => loss(x, y), true, [...vars.values()]);
      x.dispose();
      y.dispose();
      if (!cost) throw new Error('tfjs optimizer returned no loss');
      return cost;
    },
    dispose() {
      optimizer.dispose();
      mask.dispose();
      for (const v of vars.values()) v.dispose();
    },
  };
}
