import { expect, test } from '@playwright/test';
import { sizeClass } from '../../src/gpu/buffers';
import { grid1d } from '../../src/gpu/grid';
import { specKey, wgslPreamble } from '../../src/gpu/pipelines';

test('buffer size classes round small sizes to 256 bytes and large ones to powers of two', () => {
  expect(sizeClass(1)).toBe(256);
  expect(sizeClass(257)).toBe(512);
  expect(sizeClass(64 * 1024)).toBe(64 * 1024);
  expect(sizeClass(64 * 1024 + 1)).toBe(128 * 1024);
  expect(sizeClass(3_000_000)).toBe(4 * 1024 * 1024);
  for (const n of [1, 255, 1000, 70_000, 9_999_999]) expect(sizeClass(n) % 4).toBe(0);
});

test('the WGSL preamble declares consts with their types and the low-precision alias', () => {
  expect(wgslPreamble({ TILE: 16, TRANS: true, SCALE: 0.5 }, false)).toBe(
    'alias low_t = f32;\nconst TILE = 16u;\nconst TRANS = true;\nconst SCALE = 0.5f;\n',
  );
  expect(wgslPreamble({}, true)).toBe('enable f16;\nalias low_t = f16;\n');
});

test('pipeline cache keys ignore const order but not values, entry point or precision', () => {
  const base = { name: 'k', source: '' };
  expect(specKey({ ...base, consts: { A: 1, B: 2 } })).toBe(specKey({ ...base, consts: { B: 2, A: 1 } }));
  expect(specKey({ ...base, consts: { A: 1 } })).not.toBe(specKey({ ...base, consts: { A: 2 } }));
  expect(specKey(base)).not.toBe(specKey({ ...base, f16: true }));
  expect(specKey(base)).not.toBe(specKey({ ...base, entryPoint: 'other' }));
});

test('grid1d folds long ranges into two dimensions within the limit', () => {
  expect(grid1d(100, 64, 65535)).toEqual([2, 1, 1]);
  expect(grid1d(0, 64, 65535)).toEqual([1, 1, 1]);
  const [x, y] = grid1d(10_000_000, 64, 65535);
  expect(x).toBeLessThanOrEqual(65535);
  expect(x * y * 64).toBeGreaterThanOrEqual(10_000_000);
  expect(() => grid1d(2 ** 40, 1, 65535)).toThrow(/workgroups/);
});
