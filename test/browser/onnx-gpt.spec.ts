import { expect, test } from '@playwright/test';
import { inPage, openGpuPage } from '../harness/page';
import type { OnnxGptCase, OnnxGptResult } from './onnx-gpt.cases';

const CASES = '/test/browser/onnx-gpt.cases.ts';

test.beforeEach(async ({ page }) => {
  await openGpuPage(page);
});

// Odd sizes everywhere: vocab 97, width 24 in 2 heads of 12, T = 11 < context 16.
// Tolerance: |ort − cpu| ≤ 1e-4 + 1e-4·|cpu| on every logit (|logits| up to about 4 with these
// weights). Both sides round to f32 between ops; the CPU reference sums in f64 inside its
// matmuls, LayerNorms and softmax, onnxruntime in f32 in its own order, so the two differ by a
// few f32 ulps per op (measured: about 1e-6 on WebGPU and on wasm). Swapping the tanh GELU for
// the erf one moves logits by ~8e-4, six times this tolerance. The argmax token of every position must agree.
const onnxCase: OnnxGptCase = {
  config: { vocab: 97, context: 16, layers: 2, heads: 2, width: 24 },
  seed: 31,
  T: 11,
  // The dynamic-length export, one session: one token, the odd T, the whole context.
  dynamicLengths: [1, 11, 16],
  atol: 1e-4,
  rtol: 1e-4,
};

test('the GPT exported as ONNX runs in onnxruntime-web and matches the CPU forward pass', async ({
  page,
}, testInfo) => {
  const r = await inPage<OnnxGptResult>(page, CASES, 'onnxGptCase', onnxCase);
  const maxAbsErr = Math.max(...r.runs.map((run) => run.comparison.maxAbsErr));
  const maxAbsLogit = Math.max(...r.runs.map((run) => run.maxAbsLogit));
  const summary =
    `onnxruntime-web EP: ${r.ep}${r.fallbackReason ? ` (${r.fallbackReason})` : ''}; model ${r.modelBytes} bytes; ` +
    `max |ort − cpu| ${maxAbsErr.toExponential(2)} (max |logit| ${maxAbsLogit.toFixed(2)}); sessions ${r.createMs.toFixed(0)} ms, runs ${r.runMs.toFixed(0)} ms; ` +
    `node placement: ${r.placement.join(' | ') || 'not logged'}`;
  testInfo.annotations.push({ type: 'onnx-gpt', description: summary });
  console.log(summary);

  expect(r.runs.map((run) => `${run.model}: ${run.T}`)).toEqual([
    'fixed T=11: 11',
    'dynamic T: 1',
    'dynamic T: 11',
    'dynamic T: 16',
  ]);
  for (const run of r.runs) {
    const what = `${run.model}, T=${run.T}`;
    expect.soft(run.dims, what).toEqual([1, run.T, onnxCase.config.vocab]);
    expect
      .soft(
        run.comparison.worst,
        `${what}: max |ort − cpu| ${run.comparison.maxAbsErr} (worst at ${run.comparison.at})`,
      )
      .toBeLessThanOrEqual(1);
    expect.soft(run.argmaxOrt, `${what}: argmax tokens`).toEqual(run.argmaxCpu);
  }
});
