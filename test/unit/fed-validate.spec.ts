// The checks an update passes at the root and at a helper: from its header (assignedUpdateRefusal),
// then decoded (decodeValidUpdate, validateUpdate): each reason, in order, and the accepting cases.
import { expect, test } from '@playwright/test';
import { encodeUpdate } from '../../src/fed/codec';
import { assignedUpdateRefusal, decodeValidUpdate, validateUpdate } from '../../src/fed/validate';

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

test('a header is refused before its body is read: not started, other weights, not assigned, duplicate, too many tokens, too many bytes', () => {
  const round = {
    manifest: {
      round: 7,
      weightsId: 'abc123',
      assignments: { a: 0, b: 1 },
      hyper: { steps: 2, batchSize: 1, context: 16, lr: 1e-3, weightDecay: 0, dataSeed: 1 },
    },
    tried: new Set(['b']),
    maxBytes: 100,
  };
  const header = { round: 7, weights: 'abc123', tokens: 32, bytes: 100 };
  expect(assignedUpdateRefusal('a', header, round)).toBeUndefined();
  expect(assignedUpdateRefusal('a', { ...header, round: 8 }, round)).toBe('round 8 has not started');
  expect(assignedUpdateRefusal('a', { ...header, weights: 'x' }, round)).toMatch(/other weights/);
  expect(assignedUpdateRefusal('c', header, round)).toMatch(/^not assigned in this round/);
  expect(assignedUpdateRefusal('b', header, round)).toMatch(/^duplicate/);
  expect(assignedUpdateRefusal('a', { ...header, tokens: 33 }, round)).toBe(
    "claims 33 tokens, more than the round's 2×1×16",
  );
  expect(assignedUpdateRefusal('a', { ...header, bytes: 101 }, round)).toMatch(/^101 bytes, more than/);
});

test('decodeValidUpdate: malformed bytes and invalid vectors are told apart', () => {
  const codec = { format: 'fp32', blockSize: 256, density: 1 } as const;
  const body = encodeUpdate(new Float32Array([3, 4, 0, 0]), codec);
  expect(decodeValidUpdate(body, codec, 'abc123', EXPECTED)).toEqual({ vector: new Float32Array([3, 4, 0, 0]) });
  expect(decodeValidUpdate(body.subarray(1), codec, 'abc123', EXPECTED)).toMatchObject({ kind: 'malformed' });
  expect(decodeValidUpdate(body, codec, 'abc123', { ...EXPECTED, maxNorm: 4 })).toEqual({
    reason: 'norm 5 above maxNorm 4',
    kind: 'invalid',
  });
});
