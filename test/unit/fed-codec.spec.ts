// The update codec: int8 and int4 round-trip error bounds, int2's ternary rule, bit packing, block
// top-k, byte sizes, error feedback, fp32, and every way a received update is refused.
import { expect, test } from '@playwright/test';
import {
  compressWithFeedback,
  decodeUpdate,
  denseFp32Bytes,
  type EncodeOptions,
  encodedSize,
  encodeUpdate,
  UpdateFormatError,
} from '../../src/fed/codec';
import { createRandom, randomUniform } from '../../src/util/random';

const HEADER = 20;

/** Random values whose magnitude varies from block to block by up to 1e±3, so scales differ. */
function varied(n: number, seed: number, blockSize: number): Float32Array {
  const v = randomUniform(n, seed);
  const next = createRandom(seed + 1);
  for (let b = 0; b * blockSize < n; b++) {
    const m = 10 ** (next() * 6 - 3);
    for (let i = b * blockSize; i < Math.min((b + 1) * blockSize, n); i++) v[i]! *= m;
  }
  return v;
}

const blockMaxes = (v: Float32Array, blockSize: number): number[] => {
  const out: number[] = [];
  for (let s = 0; s < v.length; s += blockSize)
    out.push(v.subarray(s, s + blockSize).reduce((m, x) => Math.max(m, Math.abs(x)), 0));
  return out;
};

test('int8 round trip: every element within scale/2 = blockMax/254 on odd lengths and block sizes', () => {
  const cases: Array<[number, number | undefined]> = [
    [1, undefined],
    [255, undefined],
    [257, undefined],
    [1000, 7],
    [1000, 1],
    [513, 65536],
    [1_000_003, 257],
  ];
  for (const [n, blockSize] of cases) {
    const bs = blockSize ?? 256;
    const x = varied(n, n, bs);
    const bytes = encodeUpdate(x, { format: 'int8', blockSize });
    const nBlocks = Math.ceil(n / bs);
    expect(bytes.length).toBe(HEADER + 4 * nBlocks + n);
    const y = decodeUpdate(bytes, n);
    expect(y.length).toBe(n);
    const maxes = blockMaxes(x, bs);
    let worst = 0; // error as a fraction of the bound
    for (let i = 0; i < n; i++) {
      const scale = Math.fround(maxes[Math.floor(i / bs)]! / 127);
      // Tolerance: scale/2 plus the f32 rounding of q·scale (|q| ≤ 127, so ≤ 127·2⁻²⁴·scale < 1e-5·scale).
      worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / (scale * (0.5 + 1e-5)));
    }
    expect(worst, `n=${n} blockSize=${bs}`).toBeLessThanOrEqual(1);
  }
});

test('int8: the largest element of each block is exact up to f32 rounding, and zeros stay zeros', () => {
  const zeros = new Float32Array(1000);
  expect(decodeUpdate(encodeUpdate(zeros, { format: 'int8' }), 1000)).toEqual(zeros);
  const x = new Float32Array(600);
  x[3] = -2.5; // block 0
  x[300] = 1e-3; // block 1, alone
  // block 2 (512..599) stays all-zero: scale 0
  const y = decodeUpdate(encodeUpdate(x, { format: 'int8' }), 600);
  expect(Math.abs(y[3]! + 2.5)).toBeLessThan(2.5 * 1e-6);
  expect(Math.abs(y[300]! - 1e-3)).toBeLessThan(1e-3 * 1e-6);
  expect(y.subarray(512).every((v) => v === 0)).toBe(true);
  expect(y.filter((v) => v !== 0).length).toBe(2);
});

test('the wire layout is pinned: header, scales, int8 values, little-endian', () => {
  const bytes = encodeUpdate(new Float32Array([0.25, -1, 0.5]), { format: 'int8', blockSize: 2 });
  const dv = new DataView(bytes.buffer);
  expect(Array.from(bytes.subarray(0, 8))).toEqual([0x56, 0x46, 0x55, 1, 1, 0, 0, 0]); // "VFU", v1, int8, reserved
  expect([dv.getUint32(8, true), dv.getUint32(12, true), dv.getUint32(16, true)]).toEqual([3, 2, 2]); // length, blockSize, kept
  expect(dv.getFloat32(20, true)).toBe(Math.fround(1 / 127));
  expect(dv.getFloat32(24, true)).toBe(Math.fround(0.5 / 127));
  expect(Array.from(new Int8Array(bytes.buffer, 28))).toEqual([32, -127, 127]); // 0.25·127 = 31.75 → 32
  expect(bytes.length).toBe(31);
});

test('int4 round trip: every element within scale/2 = blockMax/14, packed two a byte', () => {
  for (const [n, bs] of [
    [1, 256],
    [257, 256],
    [1001, 7],
    [100_003, 64],
  ] as const) {
    const x = varied(n, n + 1, bs);
    const bytes = encodeUpdate(x, { format: 'int4', blockSize: bs });
    expect(bytes.length).toBe(HEADER + 4 * Math.ceil(n / bs) + Math.ceil(n / 2));
    const y = decodeUpdate(bytes, n);
    const maxes = blockMaxes(x, bs);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const scale = Math.fround(maxes[Math.floor(i / bs)]! / 7);
      // Tolerance: scale/2 plus the f32 rounding of q·scale (|q| ≤ 7).
      worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / (scale * (0.5 + 1e-6)));
    }
    expect(worst, `n=${n} blockSize=${bs}`).toBeLessThanOrEqual(1);
  }
});

test("int2 is ternary with Ternary Weight Networks' threshold and scale, packed four a byte", () => {
  // mean|x| = 0.5, threshold 0.35: the elements above it are 1, -0.8 and 0.6 (mean 0.8); 0.1 and
  // -0.3 and 0.2 send 0.
  const x = new Float32Array([1, 0.1, -0.8, -0.3, 0.6, 0.2]);
  const bytes = encodeUpdate(x, { format: 'int2', blockSize: 6 });
  expect(bytes.length).toBe(HEADER + 4 + 2);
  const dv = new DataView(bytes.buffer);
  expect(bytes[4]).toBe(4);
  expect(dv.getFloat32(HEADER, true)).toBe(Math.fround(0.8));
  // Codes from the low bits up: 1, 0, -1 (0b11), 0 | 1, 0, then zero padding.
  expect(Array.from(bytes.subarray(HEADER + 4))).toEqual([0b00_11_00_01, 0b0000_00_01]);
  const s = Math.fround(0.8);
  expect(Array.from(decodeUpdate(bytes, 6))).toEqual([s, 0, -s, 0, s, 0]);
  // An all-zero block sends zeros with scale 0.
  expect(decodeUpdate(encodeUpdate(new Float32Array(9), { format: 'int2' }), 9)).toEqual(new Float32Array(9));
});

test('low-bit values refuse their most negative code and bits after the last value', () => {
  // 5 values of int4 (3 bytes, the last half used) and of int2 (2 bytes, the last quarter used).
  for (const [format, mostNegative, padding] of [
    ['int4', 0x8, 0xf0],
    ['int2', 0x2, 0xfc],
  ] as const) {
    const good = encodeUpdate(new Float32Array([0.5, -1, 0.25, 1, -0.5]), { format, blockSize: 8 });
    const valuesAt = HEADER + 4;
    expect(decodeUpdate(good, 5).length).toBe(5);
    const bad = good.slice();
    bad[valuesAt] = (bad[valuesAt]! & ~(format === 'int4' ? 0xf : 0x3)) | mostNegative;
    expect(() => decodeUpdate(bad, 5)).toThrow(
      new RegExp(`${format} value -${mostNegative === 8 ? 8 : 2} at element 0`),
    );
    const tail = good.slice();
    tail[tail.length - 1]! |= padding & 0x80;
    expect(() => decodeUpdate(tail, 5)).toThrow(/bits after the last value are not zero/);
  }
});

test('top-k keeps exactly the largest-norm blocks (ties to the lower index) and zeroes the rest', () => {
  // 10 blocks of 8 (the last holds 3): block b is filled with norms chosen below.
  const n = 75;
  const bs = 8;
  const level = [5, 1, 9, 3, 9, 2, 0, 4, 7, 100]; // block 9 is short but largest; blocks 2 and 4 tie
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = level[Math.floor(i / bs)]! * (i % 2 === 0 ? 1 : -1);
  const check = (density: number, expected: number[]) => {
    for (const format of ['int8', 'fp32'] as const) {
      const bytes = encodeUpdate(x, { format, blockSize: bs, density });
      const dv = new DataView(bytes.buffer);
      const kept = dv.getUint32(16, true);
      expect(kept).toBe(expected.length);
      const indices = Array.from({ length: kept }, (_, k) => dv.getUint32(HEADER + 4 * k, true));
      expect(indices).toEqual(expected); // sorted on the wire
      const y = decodeUpdate(bytes, n);
      // ±level is exact in int8 (q = ±127); dropped blocks are zeros.
      const want = x.map((v, i) => (expected.includes(Math.floor(i / bs)) ? v : 0));
      expect(y, `${format} density ${density}`).toEqual(want);
    }
  };
  check(0.1, [9]);
  check(0.2, [2, 9]); // 2 and 4 tie at 9: the lower index wins
  check(0.25, [2, 4, 9]); // ceil(2.5) = 3
  check(0.5, [0, 2, 4, 8, 9]);
  check(0.0001, [9]); // at least one block
});

test('byte sizes: the formula, encodedSize, the fp32 and DDP baselines', () => {
  const x = randomUniform(1000, 3);
  const bs = 64; // 16 blocks, the last holds 40
  const size = (opts: EncodeOptions) => encodeUpdate(x, opts).length;
  expect(size({ format: 'int8', blockSize: bs })).toBe(HEADER + 4 * 16 + 1000);
  expect(size({ format: 'fp32', blockSize: bs })).toBe(HEADER + 4 * 1000);
  expect(size({ format: 'fp32' })).toBe(HEADER + denseFp32Bytes(1000));
  for (const format of ['int8', 'fp32'] as const) {
    // density 0.5 keeps 8 blocks: indices + (scales) + values; the short last block counts 40 if kept.
    const bytes = encodeUpdate(x, { format, blockSize: bs, density: 0.5 });
    const dv = new DataView(bytes.buffer);
    const lastKept = dv.getUint32(HEADER + 4 * 7, true) === 15;
    const values = 7 * 64 + (lastKept ? 40 : 64);
    expect(bytes.length).toBe(HEADER + 4 * 8 + (format === 'int8' ? 4 * 8 + values : 4 * values));
    expect(bytes.length).toBeLessThanOrEqual(encodedSize(1000, { format, blockSize: bs, density: 0.5 }));
  }
  for (const opts of [
    { format: 'int8', blockSize: bs },
    { format: 'fp32' },
    { format: 'int8', blockSize: 8, density: 0.25 },
  ] as const) {
    expect(encodedSize(1000, opts)).toBe(size(opts)); // exact when dense or blockSize divides the length
  }
  // 0.07·100 is 7.000000000000001 in floating point: still 7 blocks.
  expect(encodedSize(100, { format: 'int8', blockSize: 1, density: 0.07 })).toBe(HEADER + 8 * 7 + 7);
  expect(denseFp32Bytes(1000)).toBe(4000);
  // int8 with 256-float blocks: a little under 4× smaller than fp32 at model scale.
  const n = 10_000_000;
  expect(denseFp32Bytes(n) / encodedSize(n, { format: 'int8' })).toBeCloseTo(4 / (1 + 4 / 256), 3);
});

test('fp32 round trips exactly, dense and sparse, including -0, subnormals and extremes', () => {
  const x = randomUniform(1001, 9, 1e3);
  x[0] = -0;
  x[1] = 1e-45;
  x[2] = 3.4e38;
  x[3] = -3.4e38;
  const y = decodeUpdate(encodeUpdate(x, { format: 'fp32' }), x.length);
  expect(Object.is(y[0], -0)).toBe(true);
  expect(y).toEqual(x);
  const sparse = decodeUpdate(encodeUpdate(x, { format: 'fp32', blockSize: 100, density: 0.3 }), x.length);
  expect(sparse[2]).toBe(x[2]); // block 0 holds the extremes: kept
  expect(sparse.filter((v, i) => v !== 0 && v !== x[i]).length).toBe(0);
});

test('decode reads only inside its view: unaligned offsets in a larger buffer, junk after', () => {
  for (const opts of [
    { format: 'int8', blockSize: 33, density: 0.5 },
    { format: 'fp32' },
    { format: 'fp32', blockSize: 10, density: 0.4 },
  ] as const) {
    const x = randomUniform(257, 4);
    const bytes = encodeUpdate(x, opts);
    const big = new Uint8Array(bytes.length + 8).fill(0x7f);
    big.set(bytes, 3);
    expect(decodeUpdate(big.subarray(3, 3 + bytes.length), 257)).toEqual(decodeUpdate(bytes, 257));
    expect(() => decodeUpdate(big.subarray(3, 2 + bytes.length), 257)).toThrow(/but the header implies/);
  }
});

test('encode refuses bad options and non-finite values', () => {
  const x = new Float32Array(10);
  expect(() => encodeUpdate(x, { format: 'int8', blockSize: 0 })).toThrow(/blockSize must be an integer/);
  expect(() => encodeUpdate(x, { format: 'int8', blockSize: 65537 })).toThrow(/blockSize must be an integer/);
  expect(() => encodeUpdate(x, { format: 'int8', blockSize: 1.5 })).toThrow(/blockSize must be an integer/);
  for (const density of [0, -0.1, 1.01, Number.NaN])
    expect(() => encodeUpdate(x, { format: 'int8', density })).toThrow(/density must be in/);
  for (const format of ['bf16', 'toString'])
    expect(() => encodeUpdate(x, { format: format as 'int8' })).toThrow(/unknown update format/);
  x[7] = Number.NaN;
  expect(() => encodeUpdate(x, { format: 'int8' })).toThrow(/non-finite value at index 7/);
  x[7] = Number.NEGATIVE_INFINITY;
  expect(() => encodeUpdate(x, { format: 'fp32' })).toThrow(/non-finite value at index 7/);
});

test('every malformed update is refused with its reason', () => {
  // 1000 floats, 16 blocks of 64 (the last holds 40), 8 kept: indices at 20, scales at 52, values at 84.
  const good = encodeUpdate(randomUniform(1000, 5), { format: 'int8', blockSize: 64, density: 0.5 });
  expect(decodeUpdate(good, 1000).length).toBe(1000);
  const patched = (edit: (b: Uint8Array, dv: DataView) => void): Uint8Array => {
    const b = good.slice();
    edit(b, new DataView(b.buffer));
    return b;
  };
  const header = (length: number, blockSize: number, kept: number, format = 1): Uint8Array => {
    const b = new Uint8Array(HEADER);
    b.set([0x56, 0x46, 0x55, 1, format]);
    const dv = new DataView(b.buffer);
    dv.setUint32(8, length, true);
    dv.setUint32(12, blockSize, true);
    dv.setUint32(16, kept, true);
    return b;
  };
  const cases: Array<[string, Uint8Array, RegExp, number?]> = [
    ['empty', new Uint8Array(0), /0 bytes, shorter than the 20-byte header/],
    ['short header', good.subarray(0, 19), /19 bytes, shorter than the 20-byte header/],
    ['magic', patched((b) => (b[1] = 0x47)), /wrong magic/],
    ['version', patched((b) => (b[3] = 2)), /unsupported version 2/],
    ['format 0', patched((b) => (b[4] = 0)), /unknown format 0/],
    ['format 5', patched((b) => (b[4] = 5)), /unknown format 5/],
    ['reserved', patched((b) => (b[6] = 1)), /reserved header bytes are not zero/],
    ['length', good, /length 1000, expected 999/, 999],
    ['length field', patched((_, dv) => dv.setUint32(8, 1001, true)), /length 1001, expected 1000/],
    ['blockSize 0', patched((_, dv) => dv.setUint32(12, 0, true)), /blockSize 0 outside \[1, 65536\]/],
    ['blockSize big', patched((_, dv) => dv.setUint32(12, 65537, true)), /blockSize 65537 outside/],
    ['kept > nBlocks', patched((_, dv) => dv.setUint32(16, 17, true)), /kept 17 blocks of only 16/],
    [
      'kept = nBlocks (dense, no indices)',
      patched((_, dv) => dv.setUint32(16, 16, true)),
      /bytes, but the header implies/,
    ],
    ['indices past the end', header(1_000_000, 1, 999_999), /too short for 999999 block indices/, 1_000_000],
    [
      'index repeated',
      patched((_, dv) => dv.setUint32(24, dv.getUint32(20, true), true)),
      /not strictly increasing at position 1/,
    ],
    [
      'index decreasing',
      patched((_, dv) => {
        const a = dv.getUint32(20, true);
        dv.setUint32(20, dv.getUint32(24, true), true);
        dv.setUint32(24, a, true);
      }),
      /not strictly increasing at position 1/,
    ],
    ['index out of range', patched((_, dv) => dv.setUint32(48, 16, true)), /block index 16 out of range \(16 blocks\)/],
    [
      'one byte extra',
      Uint8Array.from([...good, 0]),
      new RegExp(`${good.length + 1} bytes, but the header implies ${good.length}`),
    ],
    [
      'one byte short',
      good.subarray(0, good.length - 1),
      new RegExp(`${good.length - 1} bytes, but the header implies ${good.length}`),
    ],
    ['scale NaN', patched((_, dv) => dv.setFloat32(56, Number.NaN, true)), /non-finite scale NaN/],
    [
      'scale Infinity',
      patched((_, dv) => dv.setFloat32(52, Number.POSITIVE_INFINITY, true)),
      /non-finite scale Infinity/,
    ],
    ['scale negative', patched((_, dv) => dv.setFloat32(52, -1, true)), /negative scale -1/],
    ['int8 -128', patched((b) => (b[90] = 0x80)), /int8 value -128/],
    ['fp32 header, int8 body', patched((b) => (b[4] = 2)), /bytes, but the header implies/],
    ['dense header, no body', header(10, 4, 3), /20 bytes, but the header implies 42/, 10],
  ];
  for (const [name, bytes, message, expected] of cases) {
    let error: unknown;
    try {
      decodeUpdate(bytes, expected ?? 1000);
    } catch (e) {
      error = e;
    }
    expect(error, name).toBeInstanceOf(UpdateFormatError);
    expect((error as Error).message, name).toMatch(message);
  }
});

test('every truncation and 3000 random corruptions either decode to the right length or throw UpdateFormatError', () => {
  for (const format of ['int8', 'int4', 'int2'] as const) corruptions(format);
});

function corruptions(format: 'int8' | 'int4' | 'int2') {
  const good = encodeUpdate(randomUniform(300, 6), { format, blockSize: 16, density: 0.4 });
  // Plain checks in the loops (expect() per iteration is slow); any other outcome is collected.
  const outcome = (b: Uint8Array): 'ok' | 'refused' | string => {
    try {
      const y = decodeUpdate(b, 300);
      return y.length === 300 ? 'ok' : `decoded ${y.length} floats`;
    } catch (e) {
      return e instanceof UpdateFormatError ? 'refused' : String(e);
    }
  };
  const cuts = Array.from({ length: good.length }, (_, cut) => outcome(good.subarray(0, cut)));
  expect(cuts.filter((o) => o !== 'refused')).toEqual([]);
  const next = createRandom(11);
  const outcomes: string[] = [];
  for (let t = 0; t < 3000; t++) {
    const b = good.slice();
    // Corrupt the header, indices and scales (the first 120 bytes), where the checks are.
    for (let f = 0; f < 1 + Math.floor(next() * 3); f++)
      b[Math.floor(next() * Math.min(b.length, 120))] = Math.floor(next() * 256);
    outcomes.push(outcome(b));
  }
  expect(outcomes.filter((o) => o !== 'ok' && o !== 'refused')).toEqual([]);
  expect(outcomes.filter((o) => o === 'refused').length, format).toBeGreaterThan(100); // the corruptions do reach the checks
}

/** Runs `rounds` of sending `update`, with or without feedback; returns max |Σ decoded − Σ true| after each round. */
function drift(update: Float32Array, rounds: number, opts: EncodeOptions, feedback: boolean): number[] {
  const sent = new Float64Array(update.length);
  let residual: Float32Array | undefined;
  const errors: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    let bytes: Uint8Array;
    if (feedback) ({ bytes, residual } = compressWithFeedback(update, residual, opts));
    else bytes = encodeUpdate(update, opts);
    const decoded = decodeUpdate(bytes, update.length);
    let worst = 0;
    for (let i = 0; i < update.length; i++) {
      sent[i]! += decoded[i]!;
      worst = Math.max(worst, Math.abs(sent[i]! - r * update[i]!));
    }
    errors.push(worst);
  }
  return errors;
}

test('error feedback: the running sum tracks the true sum within one quantisation step; without it the bias grows', () => {
  // One block: a large coordinate sets the scale to 1/127; the small systematic ones (≤ 0.003, under
  // half a step) all round to zero on their own.
  const u = new Float32Array(256);
  for (let i = 0; i < 256; i++) u[i] = 0.001 * (1 + (i % 3));
  u[0] = 1;
  const rounds = 300;
  const withFb = drift(u, rounds, { format: 'int8' }, true);
  const without = drift(u, rounds, { format: 'int8' }, false);
  // With feedback the error is the current residual: ≤ scale/2 with scale ≤ (1 + 0.004)/127, so < 0.004;
  // the f32 arithmetic of 300 rounds adds < 1e-4. It does not grow: the last 100 rounds stay under the bound.
  expect(Math.max(...withFb)).toBeLessThan(0.0041);
  expect(Math.max(...withFb.slice(-100))).toBeLessThan(0.0041);
  // Without it, coordinate i loses 0.001·(1 + i%3) every round: 0.003·r after r rounds, linearly.
  expect(without[99]).toBeCloseTo(0.3, 3);
  expect(without[rounds - 1]).toBeCloseTo(0.9, 3);
  expect(without[rounds - 1]).toBeGreaterThan(200 * Math.max(...withFb));
});

test('error feedback with top-k: dropped blocks are sent later, so the error stays bounded; without it they never arrive', () => {
  // 4 blocks of 64: block 0 at 1.0, blocks 1–3 at 0.05; one block is sent per round.
  const u = new Float32Array(256).fill(0.05);
  u.fill(1, 0, 64);
  const opts: EncodeOptions = { format: 'int8', blockSize: 64, density: 0.25 };
  const rounds = 400;
  const withFb = drift(u, rounds, opts, true);
  const without = drift(u, rounds, opts, false);
  // With feedback a small block waits until its residual outgrows block 0's (~20 rounds at 0.05 against
  // 1.0 per round), so the residual stays near 1 per element; measured max 1.15. Not growing: the
  // second half's worst is no worse than the first half's.
  const firstHalf = Math.max(...withFb.slice(0, rounds / 2));
  const secondHalf = Math.max(...withFb.slice(rounds / 2));
  expect(firstHalf).toBeLessThan(1.5);
  expect(secondHalf).toBeLessThanOrEqual(firstHalf * 1.01);
  // Without feedback blocks 1–3 are never sent: 0.05·r, i.e. 20 after 400 rounds.
  expect(without[rounds - 1]).toBeCloseTo(20, 2);
});

test('error feedback with int2 and top-k (SparseLoCo): the error grows slower than a random walk; without it, linearly', () => {
  // 16 blocks of 64 whose norms differ by up to 4×, so that every block's turn comes within rounds.
  const u = randomUniform(1024, 12).map((x, i) => x * (1 + (Math.floor(i / 64) % 4)));
  const opts: EncodeOptions = { format: 'int2', blockSize: 64, density: 0.25 };
  const rounds = 800;
  const withFb = drift(u, rounds, opts, true);
  const without = drift(u, rounds, opts, false);
  // Over 8× the rounds, a random walk's error grows √8 = 2.83×; with feedback it grows less (measured
  // 37 → 69, 1.85×), and without, 8× (the unsent blocks and the rounding's bias, every round).
  expect(withFb[rounds - 1]! / withFb[99]!).toBeLessThan(Math.sqrt(8));
  expect(without[rounds - 1]! / without[99]!).toBeCloseTo(8, 2);
  expect(without[rounds - 1]!).toBeGreaterThan(30 * withFb[rounds - 1]!);
});

test('compressWithFeedback: residual = (update + residual) − decoded, exactly, and a length mismatch throws', () => {
  const u = randomUniform(1000, 7);
  const r0 = randomUniform(1000, 8, 0.01);
  const { bytes, residual } = compressWithFeedback(u, r0, { format: 'int8', blockSize: 100, density: 0.5 });
  const d = decodeUpdate(bytes, 1000);
  expect(residual).toEqual(u.map((v, i) => Math.fround(Math.fround(v + r0[i]!) - d[i]!)));
  expect(r0[0]).toBe(randomUniform(1, 8, 0.01)[0]); // inputs untouched
  expect(() => compressWithFeedback(u, new Float32Array(999), { format: 'int8' })).toThrow(/residual has 999 floats/);
  const fp = compressWithFeedback(u, undefined, { format: 'fp32' });
  expect(fp.residual.every((v) => v === 0)).toBe(true);
});

test("with the round's codec, another format, block size or density is refused; the round's own passes", () => {
  const v = randomUniform(1000, 7);
  const round = { format: 'int8', blockSize: 256, density: 0.5 } as const;
  expect(decodeUpdate(encodeUpdate(v, round), v.length, round)).toHaveLength(v.length);
  expect(decodeUpdate(encodeUpdate(v, { ...round, density: 0.25 }), v.length, round)).toHaveLength(v.length);
  expect(() => decodeUpdate(encodeUpdate(v, { ...round, format: 'fp32' }), v.length, round)).toThrow(
    'format fp32, the round asks for int8',
  );
  expect(() => decodeUpdate(encodeUpdate(v, { ...round, blockSize: 128 }), v.length, round)).toThrow(
    'blockSize 128, the round asks for 256',
  );
  expect(() => decodeUpdate(encodeUpdate(v, { ...round, density: 1 }), v.length, round)).toThrow(
    "4 blocks kept, the round's density keeps at most 2",
  );
});
