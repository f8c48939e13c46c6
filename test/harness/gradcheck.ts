// Finite-difference checks of the CPU reference's backward passes.

/**
 * Central-difference gradient of a scalar function f at x, for the listed
 * indices (all when omitted). Computed in f64 on a copy; `h` is the step.
 */
export function numericGradient(
  f: (x: Float64Array) => number,
  x: ArrayLike<number>,
  h = 1e-5,
  indices?: number[],
): Float64Array {
  const point = Float64Array.from(x);
  const grad = new Float64Array(point.length);
  for (const i of indices ?? point.keys()) {
    const saved = point[i]!;
    point[i] = saved + h;
    const up = f(point);
    point[i] = saved - h;
    const down = f(point);
    point[i] = saved;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

/** max |analytic − numeric| / max(1, |numeric|) over the checked indices: a relative error that tolerates tiny gradients. */
export function gradientError(analytic: ArrayLike<number>, numeric: ArrayLike<number>, indices?: number[]): number {
  let worst = 0;
  for (const i of indices ?? Array.from({ length: numeric.length }, (_, k) => k)) {
    worst = Math.max(worst, Math.abs(analytic[i]! - numeric[i]!) / Math.max(1, Math.abs(numeric[i]!)));
  }
  return worst;
}

/** A dot product with fixed random weights turns a tensor output into a scalar loss for gradient checks. */
export function weightedSum(values: ArrayLike<number>, weights: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! * weights[i]!;
  return sum;
}
