// IEEE 754 half precision on the CPU: what the matmul's f16 path (precision 'f16') reads, for
// callers and tests that must hand it f16 values. Neither Node 20 nor every browser has Float16Array.

/** Rounds to an integer, halves to even (exact for the scaled f32 values it is given). */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The f16 bits nearest to `x` (ties to even); beyond the largest f16, infinity. */
export function f16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  // 65520 is halfway between the largest f16 (65504) and the next step, which is infinity.
  if (a >= 65520) return sign | 0x7c00;
  // Subnormals step by 2⁻²⁴; rounding up to 0x400 gives the smallest normal, as it should.
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  // A mantissa that rounds up to 1024 carries into the exponent, as the bits should.
  return sign | (((e + 15) << 10) + roundHalfEven((a / 2 ** e - 1) * 1024));
}

/** The value of f16 bits. */
export function f16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0x1f) return m ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return e === 0 ? sign * m * 2 ** -24 : sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** `values` rounded to f16, kept as f32 (every f16 is an f32): what a CPU reference computes with. */
export function roundToF16(values: Float32Array): Float32Array {
  return values.map((v) => f16Value(f16Bits(v)));
}

/** `values` as packed f16, two to a u32 (little-endian: the first in the low half), zero-padded. */
export function packF16(values: Float32Array): Uint32Array {
  const halves = new Uint16Array(values.length + (values.length % 2));
  values.forEach((v, i) => {
    halves[i] = f16Bits(v);
  });
  return new Uint32Array(halves.buffer);
}
