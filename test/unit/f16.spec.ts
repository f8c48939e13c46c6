// CPU half precision (src/util/f16.ts): what the matmul's f16 path is handed in tests.
import { expect, test } from '@playwright/test';
import { f16Bits, f16Value, packF16, roundToF16 } from '../../src/util/f16';

test('every f16 survives the round trip through its value', () => {
  const changed: string[] = [];
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = f16Value(bits);
    const back = f16Bits(value);
    // Every NaN comes back as the one quiet NaN.
    if (back !== (Number.isNaN(value) ? 0x7e00 : bits))
      changed.push(`0x${bits.toString(16)} -> 0x${back.toString(16)}`);
  }
  expect(changed).toEqual([]);
});

test('f32 values round to the nearest f16, ties to even, overflow to infinity', () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [1 / 3, 0x3555],
    [65504, 0x7bff],
    [65519, 0x7bff],
    [65520, 0x7c00],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000], // halfway between 0 and the smallest subnormal: to even
    [1.5 * 2 ** -25, 0x0001],
    [1 + 2 ** -11, 0x3c00], // halfway: to the even mantissa
    [1 + 3 * 2 ** -11, 0x3c02],
    [2 ** -14 - 2 ** -25, 0x0400], // rounds up into the smallest normal
    [-0, 0x8000],
  ];
  for (const [value, bits] of cases) expect(f16Bits(value), `${value}`).toBe(bits);
});

test('packF16 puts two halves in each u32, the first low, and roundToF16 gives their values', () => {
  const values = Float32Array.of(1, -2, 0.1);
  expect([...packF16(values)]).toEqual([0xc0003c00, f16Bits(0.1)]);
  expect([...roundToF16(values)]).toEqual([1, -2, f16Value(f16Bits(0.1))]);
  expect(roundToF16(values)[2]).not.toBe(Math.fround(0.1));
});
