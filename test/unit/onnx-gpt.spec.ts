import { expect, test } from '@playwright/test';
import * as ort from 'onnxruntime-web';
import { gptForwardCpu, initParams, paramLayout } from '../../src/model';
import { exportGptOnnx } from '../../src/onnx';
import { createRandom } from '../../src/util/random';

test('exportGptOnnx checks the sequence length and the parameter count', () => {
  const layout = paramLayout({ vocab: 11, context: 8, layers: 1, heads: 1, width: 4 });
  const params = initParams(layout, 1);
  for (const T of [0, 9, 2.5])
    expect(() => exportGptOnnx(layout, params, T)).toThrow(/sequence length must be an integer in \[1, 8\]/);
  expect(() => exportGptOnnx(layout, params.subarray(1), 4)).toThrow(/params has \d+ floats, the layout needs \d+/);
});

// The browser test (test/browser/onnx-gpt.spec.ts) runs the export on the WebGPU execution
// provider; this is the same check on onnxruntime's wasm CPU kernels in Node, same tolerance.
test('the exported GPT runs in onnxruntime (wasm) and matches gptForwardCpu at several lengths', async () => {
  ort.env.wasm.numThreads = 1;
  const layout = paramLayout({ vocab: 53, context: 12, layers: 2, heads: 3, width: 18 });
  const params = initParams(layout, 3);
  const next = createRandom(4);
  for (let i = 0; i < params.length; i++) params[i] = params[i]! * 10 + (next() - 0.5) * 0.2; // padding too: the export must skip it
  const session = await ort.InferenceSession.create(exportGptOnnx(layout, params, 'dynamic'), {
    executionProviders: ['wasm'],
  });
  for (const T of [1, 7, 12]) {
    const tokens = Uint32Array.from({ length: T }, () => Math.floor(next() * 53));
    const { logits } = await session.run({
      tokens: new ort.Tensor(
        'int64',
        BigInt64Array.from(tokens, (t) => BigInt(t)),
        [1, T],
      ),
    });
    expect(logits!.dims).toEqual([1, T, 53]);
    const got = logits!.data as Float32Array;
    const want = gptForwardCpu(layout, params, tokens, undefined, 1, T).logits;
    for (let i = 0; i < want.length; i++) {
      if (!(Math.abs(got[i]! - want[i]!) <= 1e-4 + 1e-4 * Math.abs(want[i]!)))
        throw new Error(`T=${T} logit ${i}: ort ${got[i]}, cpu ${want[i]}`);
    }
  }
  await session.release();
});
