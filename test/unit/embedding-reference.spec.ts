import { expect, test } from '@playwright/test';
import { embeddingBackwardCpu, embeddingForwardCpu } from '../../src/model/cpu/embedding';
import { randomUniform } from '../../src/util/random';
import { gradientError, numericGradient, weightedSum } from '../harness/gradcheck';

// The embedding is linear, so f64 central differences are exact up to rounding (~1e-10).
const GRAD_TOL = 1e-8;

const B = 2,
  T = 3,
  C = 4,
  V = 5,
  maxT = 4;
// Token 2 repeats within and across sequences; tokens 3 and 4 never occur.
const tokens = new Uint32Array([2, 0, 2, 2, 1, 0]);

test('embeddingForwardCpu adds the token row and the position row', () => {
  const wte = Float64Array.from(randomUniform(V * C, 1));
  const wpe = Float64Array.from(randomUniform(maxT * C, 2));
  const out = embeddingForwardCpu({ tokens, wte, wpe, B, T, C });
  // Row 4 is sequence 1, position 1, token 1.
  for (let c = 0; c < C; c++) expect(out[4 * C + c]).toBe(wte[1 * C + c]! + wpe[1 * C + c]!);
});

test('embeddingBackwardCpu matches finite differences for wte and wpe', () => {
  const wte = Float64Array.from(randomUniform(V * C, 1));
  const wpe = Float64Array.from(randomUniform(maxT * C, 2));
  const w = Float64Array.from(randomUniform(B * T * C, 3));
  const loss = (te: Float64Array, pe: Float64Array) =>
    weightedSum(embeddingForwardCpu({ tokens, wte: te, wpe: pe, B, T, C }), w);
  const { dwte, dwpe } = embeddingBackwardCpu({ tokens, dout: w, V, maxT, B, T, C });
  expect(
    gradientError(
      dwte,
      numericGradient((v) => loss(v, wpe), wte),
    ),
  ).toBeLessThan(GRAD_TOL);
  expect(
    gradientError(
      dwpe,
      numericGradient((v) => loss(wte, v), wpe),
    ),
  ).toBeLessThan(GRAD_TOL);
  // Unused tokens and positions ≥ T get exactly zero.
  expect([...dwte.subarray(3 * C)].every((g) => g === 0)).toBe(true);
  expect([...dwpe.subarray(T * C)].every((g) => g === 0)).toBe(true);
});

test('embeddingBackwardCpu rejects token ids outside the vocabulary', () => {
  const dout = new Float64Array(B * T * C);
  expect(() => embeddingBackwardCpu({ tokens: [0, 1, 5, 0, 0, 0], dout, V, maxT, B, T, C })).toThrow(
    /token id 5 at position 2 is not below the vocabulary size 5/,
  );
});
