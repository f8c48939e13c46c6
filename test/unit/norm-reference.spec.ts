import { expect, test } from '@playwright/test';
import { globalNormCpu } from '../../src/model/cpu/norm';

test('globalNormCpu is the L2 norm of the whole vector', () => {
  expect(globalNormCpu([3, -4])).toBe(5);
  expect(globalNormCpu([0])).toBe(0);
  expect(globalNormCpu(new Float32Array([1, 2, 2, 4]))).toBe(5);
  // Sums in f64: a million ones give exactly 1000.
  expect(globalNormCpu(new Float32Array(1_000_000).fill(1))).toBe(1000);
});
