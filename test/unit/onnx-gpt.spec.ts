import { expect, test } from '@playwright/test';
import * as ort from 'onnxruntime-web';
import { gptForwardCpu, initParams, paramLayout } from '../../src/model';
import { exportGptOnnx, sampleNext } from '../../src/onnx';
import { createRandom } from '../../src/util/random';

const never = () => {
  throw new Error('random() must not be called at temperature 0');
};

test('sampleNext at temperature 0 is the argmax, the first one on ties, without drawing', () => {
  expect(sampleNext(Float32Array.of(0.1, 2.5, -3, 2.4), 0, never)).toBe(1);
  expect(sampleNext(Float32Array.of(-1, 7, 7, 7), 0, never)).toBe(1);
  expect(sampleNext(Float32Array.of(-Infinity, -5), 0, never)).toBe(1);
  expect(sampleNext(Float32Array.of(42), 0, never)).toBe(0);
});

test('sampleNext draws from softmax(logits / temperature) by the cumulative sum', () => {
  // softmax([0, ln 3]) = [1/4, 3/4]: draws below 0.25 give token 0, the rest token 1.
  const row = Float32Array.of(0, Math.log(3));
  expect(sampleNext(row, 1, () => 0)).toBe(0);
  expect(sampleNext(row, 1, () => 0.2)).toBe(0);
  expect(sampleNext(row, 1, () => 0.3)).toBe(1);
  expect(sampleNext(row, 1, () => 0.999999)).toBe(1);
  // Temperature 2 on [0, ln 9] is the same distribution.
  expect(sampleNext(Float32Array.of(0, Math.log(9)), 2, () => 0.2)).toBe(0);
  expect(sampleNext(Float32Array.of(0, Math.log(9)), 2, () => 0.3)).toBe(1);
  // A masked token (−∞) is never drawn; a cold temperature gives the argmax for any draw.
  expect(sampleNext(Float32Array.of(-Infinity, 0), 1, () => 0)).toBe(1);
  for (const u of [0, 0.5, 0.999999]) expect(sampleNext(Float32Array.of(1, 3, 2), 1e-3, () => u)).toBe(1);
});

test('sampleNext frequencies follow the softmax', () => {
  const row = Float32Array.of(1, 0, 2, -1);
  const temperature = 0.7;
  const weights = [...row].map((l) => Math.exp(l / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  const random = createRandom(5);
  const draws = 40_000;
  const counts = new Array<number>(row.length).fill(0);
  for (let i = 0; i < draws; i++) counts[sampleNext(row, temperature, random)]! += 1;
  // Standard error of a frequency is √(p(1−p)/n) ≤ 0.0025; allow 4 of them.
  for (let i = 0; i < row.length; i++) expect(Math.abs(counts[i]! / draws - weights[i]! / total)).toBeLessThan(0.01);
});

test('sampleNext rejects an empty row and a negative or non-finite temperature', () => {
  expect(() => sampleNext(new Float32Array(0), 0, Math.random)).toThrow(/empty logits row/);
  for (const t of [-0.5, NaN, Infinity])
    expect(() => sampleNext(Float32Array.of(1, 2), t, Math.random)).toThrow(/temperature must be finite and ≥ 0/);
});

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
