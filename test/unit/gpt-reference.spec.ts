import { expect, test } from '@playwright/test';
import { type GptCpuTrainState, gptBackwardCpu, gptForwardCpu, gptTrainStepCpu } from '../../src/model/cpu/gpt';
import { globalNormCpu } from '../../src/model/cpu/norm';
import { initParams } from '../../src/model/init';
import { type ParamLayout, paramLayout, view } from '../../src/model/layout';
import { createRandom } from '../../src/util/random';
import { numericGradient } from '../harness/gradcheck';

const TINY = { vocab: 11, context: 8, layers: 2, heads: 2, width: 8 };
const HYPER = { lr: 0.02, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

function randomTokens(n: number, vocab: number, seed: number): Uint32Array {
  const next = createRandom(seed);
  return Uint32Array.from({ length: n }, () => Math.floor(next() * vocab));
}

/** Indices of the flat vector that no tensor covers: the alignment gaps. */
function paddingIndices(layout: ParamLayout): number[] {
  const covered = new Uint8Array(layout.total);
  for (const t of layout.tensors) covered.fill(1, t.offset, t.offset + t.size);
  return [...covered.keys()].filter((i) => covered[i] === 0);
}

function freshState(layout: ParamLayout, seed: number): GptCpuTrainState {
  return {
    params: initParams(layout, seed),
    m: new Float32Array(layout.total),
    v: new Float32Array(layout.total),
    step: 0,
  };
}

// The matmul and attention references store f32 only, so the model runs in f32 and the loss
// carries ~1e-8 of rounding noise. Parameters are init plus uniform ±0.3 noise, which makes
// every gradient ≥ ~1e-2 and keeps LayerNorm well conditioned. A step h = 3e-3 balances
// rounding noise (~1e-8 / h) against the O(h²) truncation error: over 15 probed seeds and
// scales the worst per-tensor error was 1.3e-3 (6.6e-4 for this one). A wrong backward formula
// shows as O(1). Error per tensor: max |analytic − numeric| / max |numeric| over its samples.
const GRAD_H = 3e-3;
const GRAD_TOL = 5e-3;
const SAMPLES_PER_TENSOR = 8;

test('gptBackwardCpu matches finite differences of the loss in every tensor', () => {
  const layout = paramLayout(TINY);
  const B = 2;
  const T = 5;
  const inputs = randomTokens(B * T, TINY.vocab, 1);
  const targets = randomTokens(B * T, TINY.vocab, 2);
  const next = createRandom(3);
  const params = initParams(layout, 4);
  for (const t of layout.tensors) {
    const values = view(params, t);
    for (let i = 0; i < values.length; i++) values[i]! += (next() * 2 - 1) * 0.3;
  }
  const grads = gptBackwardCpu(layout, params, gptForwardCpu(layout, params, inputs, targets, B, T));

  // Sample each tensor; wpe only in the T rows this batch reads (the others are checked below).
  const samples = new Map<string, number[]>();
  for (const t of layout.tensors) {
    const used = t === layout.params.wpe ? T * TINY.width : t.size;
    samples.set(
      t.name,
      Array.from({ length: SAMPLES_PER_TENSOR }, () => t.offset + Math.floor(next() * used)),
    );
  }
  const loss = (x: Float64Array) => gptForwardCpu(layout, Float32Array.from(x), inputs, targets, B, T).loss!;
  const numeric = numericGradient(loss, params, GRAD_H, [...samples.values()].flat());

  const errors: Record<string, number> = {};
  for (const [name, indices] of samples) {
    const scale = Math.max(...indices.map((i) => Math.abs(numeric[i]!)));
    errors[name] = Math.max(...indices.map((i) => Math.abs(grads[i]! - numeric[i]!))) / scale;
  }
  for (const [name, error] of Object.entries(errors))
    expect.soft(error, `${name}: relative error ${error}`).toBeLessThan(GRAD_TOL);
  test.info().annotations.push({
    type: 'worst relative error',
    description: Math.max(...Object.values(errors)).toExponential(2),
  });

  // Positions past T never enter the forward pass: their wpe rows get exactly zero.
  expect(
    view(grads, layout.params.wpe)
      .subarray(T * TINY.width)
      .every((g) => g === 0),
  ).toBe(true);
});

test('the loss at init is close to ln(vocab), and a forward without targets gives the same logits', () => {
  const config = { vocab: 64, context: 16, layers: 2, heads: 4, width: 32 };
  const layout = paramLayout(config);
  const params = initParams(layout, 1);
  const inputs = randomTokens(32, config.vocab, 5);
  const withTargets = gptForwardCpu(layout, params, inputs, randomTokens(32, config.vocab, 6), 2, 16);
  // Init logits have std ~0.02·√width ≈ 0.1, so the softmax is nearly uniform.
  expect(Math.abs(withTargets.loss! - Math.log(config.vocab))).toBeLessThan(0.05);
  const withoutTargets = gptForwardCpu(layout, params, inputs, undefined, 2, 16);
  expect(withoutTargets.loss).toBeUndefined();
  expect(withoutTargets.logits).toEqual(withTargets.logits);
});

test('AdamW steps on one fixed batch drive the loss down a lot (the model can overfit)', () => {
  const layout = paramLayout(TINY);
  const batch = { inputs: randomTokens(16, TINY.vocab, 7), targets: randomTokens(16, TINY.vocab, 8), B: 2, T: 8 };
  const state = freshState(layout, 9);
  const losses = Array.from(
    { length: 40 },
    () => gptTrainStepCpu(layout, state, batch, { ...HYPER, gradClip: 1 }).loss,
  );
  const final = gptForwardCpu(layout, state.params, batch.inputs, batch.targets, batch.B, batch.T).loss!;
  expect(state.step).toBe(40);
  expect(losses[0]).toBeGreaterThan(2);
  expect(final).toBeLessThan(0.1 * losses[0]!);
});

test('gradient clipping scales the gradient AdamW sees to the clip norm, and gradNorm is the norm before clipping', () => {
  const layout = paramLayout(TINY);
  const batch = { inputs: randomTokens(10, TINY.vocab, 10), targets: randomTokens(10, TINY.vocab, 11), B: 2, T: 5 };
  const state = freshState(layout, 12);
  const grads = gptBackwardCpu(
    layout,
    state.params,
    gptForwardCpu(layout, state.params, batch.inputs, batch.targets, 2, 5),
  );
  const gradClip = 1e-3;
  const { gradNorm } = gptTrainStepCpu(layout, state, batch, { ...HYPER, gradClip });
  expect(gradNorm).toBeCloseTo(globalNormCpu(grads), 6);
  expect(gradNorm).toBeGreaterThan(gradClip);
  // After one step m = (1 − β1)·clipped gradient.
  expect(globalNormCpu(state.m)).toBeCloseTo((1 - HYPER.beta1) * gradClip, 7);
});

test('the gradient, parameters and moments stay zero in the alignment padding', () => {
  const layout = paramLayout(TINY);
  const padding = paddingIndices(layout);
  expect(padding.length).toBeGreaterThan(0);
  const batch = { inputs: randomTokens(10, TINY.vocab, 13), targets: randomTokens(10, TINY.vocab, 14), B: 2, T: 5 };
  const state = freshState(layout, 15);
  const grads = gptBackwardCpu(
    layout,
    state.params,
    gptForwardCpu(layout, state.params, batch.inputs, batch.targets, 2, 5),
  );
  expect(padding.every((i) => grads[i] === 0)).toBe(true);
  for (let s = 0; s < 3; s++) gptTrainStepCpu(layout, state, batch, HYPER);
  for (const flat of [state.params, state.m, state.v]) expect(padding.every((i) => flat[i] === 0)).toBe(true);
});
