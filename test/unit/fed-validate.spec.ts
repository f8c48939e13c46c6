// The seed's admission check for a decoded update: each reason, in order, and the accepting cases.
import { expect, test } from '@playwright/test';
import { validateUpdate } from '../../src/fed/validate';

const EXPECTED = { round: 7, manifest: 'abc123', length: 4, minNorm: 0, maxNorm: 5 };
const update = (vector: number[], over: Partial<{ round: number; manifest: string }> = {}) => ({
  round: 7,
  manifest: 'abc123',
  vector: new Float32Array(vector),
  ...over,
});

test('accepts a good update, including one exactly at maxNorm', () => {
  expect(validateUpdate(update([0.1, -0.2, 0, 1]), EXPECTED)).toBeUndefined();
  expect(validateUpdate(update([3, 4, 0, 0]), EXPECTED)).toBeUndefined(); // norm 5 = maxNorm
  expect(validateUpdate(update([0, 0, 0, 0]), EXPECTED)).toBeUndefined();
  expect(validateUpdate(update([1e6, 0, 0, 0]), { ...EXPECTED, maxNorm: Number.POSITIVE_INFINITY })).toBeUndefined();
});

test('gives the reason for each refusal', () => {
  expect(validateUpdate(update([0, 0, 0, 0], { round: 6 }), EXPECTED)).toBe('wrong round 6, expected 7');
  expect(validateUpdate(update([0, 0, 0, 0], { manifest: 'abc124' }), EXPECTED)).toBe(
    'wrong manifest abc124, expected abc123',
  );
  expect(validateUpdate(update([0, 0, 0]), EXPECTED)).toBe('wrong length 3, expected 4');
  expect(validateUpdate(update([0, 0, Number.NaN, 0]), EXPECTED)).toBe('non-finite value NaN at index 2');
  expect(validateUpdate(update([0, Number.NEGATIVE_INFINITY, 0, 0]), EXPECTED)).toBe(
    'non-finite value -Infinity at index 1',
  );
  expect(validateUpdate(update([3, 4, 0, 0.01]), EXPECTED)).toMatch(/^norm 5\.0000\d+ above maxNorm 5$/);
  // Below the round's floor: an update that small carries no work (a zero update, the free rider's).
  expect(validateUpdate(update([0, 0, 0, 0]), { ...EXPECTED, minNorm: 0.5 })).toBe(
    "norm 0 below minNorm 0.5: too small to carry the round's work",
  );
  expect(validateUpdate(update([0.3, 0.4, 0, 0]), { ...EXPECTED, minNorm: 0.5 })).toBeUndefined(); // norm 0.5 = minNorm
  // Large finite values whose squares overflow a float32 still get a finite float64 norm.
  expect(validateUpdate(update([3e38, 3e38, 0, 0]), EXPECTED)).toMatch(/^norm 4\.24\d*e\+38 above maxNorm 5$/);
});

test('checks in order: round, manifest, length, values, norm', () => {
  const bad = { round: 1, manifest: 'x', vector: new Float32Array([Number.NaN, 100, 100]) };
  expect(validateUpdate(bad, EXPECTED)).toMatch(/^wrong round/);
  expect(validateUpdate({ ...bad, round: 7 }, EXPECTED)).toMatch(/^wrong manifest/);
  expect(validateUpdate({ ...bad, round: 7, manifest: 'abc123' }, EXPECTED)).toMatch(/^wrong length/);
  expect(validateUpdate(update([100, Number.NaN, 0, 0]), EXPECTED)).toMatch(/^non-finite value NaN at index 1/);
});
