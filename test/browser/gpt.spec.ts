import { expect, inPage, test } from '../harness/page';
import type { ParityCase } from './gpt.cases';

const CASES = '/test/browser/gpt.cases.ts';

// Tolerances against the CPU reference (which rounds to f32 between ops like the GPU, summing in f64):
//   loss and gradient norm: relative 1e-5
//   gradients:   |gpu − cpu| ≤ 1e-6 + 1e-3·|cpu|
//   parameters after AdamW: |gpu − cpu| ≤ 1e-6 + 1e-5·|cpu|. AdamW divides by √v, so a gradient element
//   near zero amplifies rounding differences; eps = 1e-6 bounds that amplification for the check.
const parity: ParityCase = {
  config: { vocab: 37, context: 16, layers: 2, heads: 2, width: 24 },
  B: 2,
  T: 9,
  steps: 2,
  hyper: { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-6, weightDecay: 0.1, gradClip: 1 },
  tol: { loss: 1e-5, grads: [1e-6, 1e-3], params: [1e-6, 1e-5] },
};

test('a GPU training step matches the CPU reference: loss, every gradient, parameters after AdamW', async ({
  freshGpuPage,
}) => {
  const steps = await inPage<
    {
      loss: [number, number];
      gradNorm: [number, number];
      grads: { worst: number; maxAbsErr: number; tensors: unknown };
      params: { worst: number; maxAbsErr: number; tensors: unknown };
    }[]
  >(freshGpuPage, CASES, 'trainStepParity', parity);
  expect(steps).toHaveLength(parity.steps);
  for (const [i, s] of steps.entries()) {
    expect.soft(Math.abs(s.loss[0] - s.loss[1]) / s.loss[1], `step ${i} loss ${s.loss}`).toBeLessThan(parity.tol.loss);
    expect
      .soft(Math.abs(s.gradNorm[0] - s.gradNorm[1]) / s.gradNorm[1], `step ${i} grad norm ${s.gradNorm}`)
      .toBeLessThan(parity.tol.loss);
    expect
      .soft(s.grads.worst, `step ${i} grads, worst tensors ${JSON.stringify(s.grads.tensors)}`)
      .toBeLessThanOrEqual(1);
    expect
      .soft(s.params.worst, `step ${i} params, worst tensors ${JSON.stringify(s.params.tensors)}`)
      .toBeLessThanOrEqual(1);
  }
});

test('the model refuses configs it cannot run, with clear errors', async ({ freshGpuPage }) => {
  const messages = await inPage<string[]>(freshGpuPage, CASES, 'badModelErrors');
  expect(messages[0]).toMatch(/heads \(3\) must divide width \(8\)/);
  expect(messages[1]).toMatch(/context 100000 exceeds the limit/);
  expect(messages[2]).toMatch(/sequence length 9 exceeds the model's context 8/);
  expect(messages[3]).toMatch(/model does not fit this GPU/);
  expect(messages[4]).toMatch(/head dimension 256 exceeds 128/);
});
