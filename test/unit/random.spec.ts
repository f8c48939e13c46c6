import { expect, test } from '@playwright/test';
import { createRandom, randomUniform } from '../../src/util/random';

test('the PRNG is deterministic per seed and roughly uniform', () => {
  expect(randomUniform(8, 42)).toEqual(randomUniform(8, 42));
  expect(randomUniform(8, 42)).not.toEqual(randomUniform(8, 43));
  const next = createRandom(7);
  let sum = 0;
  let min = 1;
  let max = 0;
  const n = 100_000;
  for (let i = 0; i < n; i++) {
    const x = next();
    sum += x;
    min = Math.min(min, x);
    max = Math.max(max, x);
  }
  expect(min).toBeGreaterThanOrEqual(0);
  expect(max).toBeLessThan(1);
  expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.01);
  const scaled = randomUniform(1000, 1, 0.1);
  expect(Math.max(...scaled.map(Math.abs))).toBeLessThanOrEqual(0.1);
});
