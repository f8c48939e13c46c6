import { expect, test } from '@playwright/test';
import { geluBackwardCpu, geluForwardCpu } from '../../src/model/cpu/gelu';
import { randomUniform } from '../../src/util/random';
import { gradientError, numericGradient, weightedSum } from '../harness/gradcheck';

// f64 central differences with h = 1e-5 are accurate to ~1e-9.
const GRAD_TOL = 1e-6;

test('geluForwardCpu matches known values of the tanh approximation', () => {
  // PyTorch's gelu(x, approximate='tanh') gives 0.8411920 and -0.1588080 at ±1.
  const y = geluForwardCpu(new Float64Array([0, 1, -1, -10, 10]));
  expect(y[0]).toBe(0);
  expect(y[1]).toBeCloseTo(0.8411919906082768, 12);
  expect(y[2]).toBeCloseTo(-0.15880800939172324, 12);
  expect(Math.abs(y[3]!)).toBeLessThan(1e-20);
  expect(y[4]).toBe(10);
});

test('geluBackwardCpu matches finite differences', () => {
  const x = Float64Array.from(randomUniform(40, 1, 4)); // covers the curved part, [-4, 4)
  const w = Float64Array.from(randomUniform(40, 2));
  const dx = geluBackwardCpu(x, w);
  const numeric = numericGradient((v) => weightedSum(geluForwardCpu(v), w), x);
  expect(gradientError(dx, numeric)).toBeLessThan(GRAD_TOL);
});
