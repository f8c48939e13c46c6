/**
 * Float arrays the CPU reference reads and writes. Arithmetic is always f64 (JS numbers);
 * results are stored in the caller's precision: Float32Array like the GPU buffers, or
 * Float64Array for finite-difference gradient checks, whose small steps f32 would drown.
 */
export type Floats = Float32Array | Float64Array;

/** A zeroed array of `length` elements of the same type as `like`. */
export function zerosLike<F extends Floats>(like: F, length: number): F {
  return (like instanceof Float64Array ? new Float64Array(length) : new Float32Array(length)) as F;
}
