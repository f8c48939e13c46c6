/** The global L2 norm oracle: √(Σ x²) over every element, summed in f64. */
export function globalNormCpu(x: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]! * x[i]!;
  return Math.sqrt(sum);
}
