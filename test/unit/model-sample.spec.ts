import { expect, test } from '@playwright/test';
import { sampleToken } from '../../src/model';
import { createRandom } from '../../src/util/random';

const never = () => {
  throw new Error('random() must not be called at temperature 0');
};

test('sampleToken at temperature 0 is the argmax, the first one on ties, without drawing', () => {
  expect(sampleToken(Float32Array.of(0.1, 2.5, -3, 2.4), 0, never)).toBe(1);
  expect(sampleToken(Float32Array.of(-1, 7, 7, 7), 0, never)).toBe(1);
  expect(sampleToken(Float32Array.of(-Infinity, -5), 0, never)).toBe(1);
  expect(sampleToken(Float32Array.of(42), 0, never)).toBe(0);
});

test('sampleToken draws from softmax(logits / temperature) by the cumulative sum', () => {
  // softmax([0, ln 3]) = [1/4, 3/4]: draws below 0.25 give token 0, the rest token 1.
  const row = Float32Array.of(0, Math.log(3));
  expect(sampleToken(row, 1, () => 0)).toBe(0);
  expect(sampleToken(row, 1, () => 0.2)).toBe(0);
  expect(sampleToken(row, 1, () => 0.3)).toBe(1);
  expect(sampleToken(row, 1, () => 0.999999)).toBe(1);
  // Temperature 2 on [0, ln 9] is the same distribution.
  expect(sampleToken(Float32Array.of(0, Math.log(9)), 2, () => 0.2)).toBe(0);
  expect(sampleToken(Float32Array.of(0, Math.log(9)), 2, () => 0.3)).toBe(1);
  // A masked token (−∞) is never drawn; a cold temperature gives the argmax for any draw.
  expect(sampleToken(Float32Array.of(-Infinity, 0), 1, () => 0)).toBe(1);
  for (const u of [0, 0.5, 0.999999]) expect(sampleToken(Float32Array.of(1, 3, 2), 1e-3, () => u)).toBe(1);
});

test('sampleToken frequencies follow the softmax', () => {
  const row = Float32Array.of(1, 0, 2, -1);
  const temperature = 0.7;
  const weights = [...row].map((l) => Math.exp(l / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  const random = createRandom(5);
  const draws = 40_000;
  const counts = new Array<number>(row.length).fill(0);
  for (let i = 0; i < draws; i++) counts[sampleToken(row, temperature, random)]! += 1;
  // Standard error of a frequency is √(p(1−p)/n) ≤ 0.0025; allow 4 of them.
  for (let i = 0; i < row.length; i++) expect(Math.abs(counts[i]! / draws - weights[i]! / total)).toBeLessThan(0.01);
});

test('sampleToken rejects an empty row and a negative or non-finite temperature', () => {
  expect(() => sampleToken(new Float32Array(0), 0, Math.random)).toThrow(/empty logits row/);
  for (const t of [-0.5, NaN, Infinity])
    expect(() => sampleToken(Float32Array.of(1, 2), t, Math.random)).toThrow(/temperature must be finite and ≥ 0/);
});
