/**
 * The softmax + cross-entropy oracle, written for reading. Logits are [rows, V] row-major,
 * one target class per row. Everything is computed in f64 (inputs may be f64 too, which
 * the finite-difference checks need).
 */
export interface CpuCrossEntropyArgs {
  logits: ArrayLike<number>;
  targets: ArrayLike<number>;
  rows: number;
  V: number;
}

function checkTargets({ targets, rows, V }: CpuCrossEntropyArgs): void {
  for (let r = 0; r < rows; r++) {
    const t = targets[r]!;
    if (!Number.isInteger(t) || t < 0 || t >= V)
      throw new RangeError(`target ${t} at row ${r} is not a class in [0, ${V})`);
  }
}

/**
 * log softmax of one row: x − max − log Σ exp(x − max). Subtracting the max first means
 * exp() never sees a large argument, so logits of any magnitude are safe.
 */
function logSoftmaxRow(logits: ArrayLike<number>, offset: number, V: number): Float64Array {
  let max = -Infinity;
  for (let j = 0; j < V; j++) max = Math.max(max, logits[offset + j]!);
  let sum = 0;
  for (let j = 0; j < V; j++) sum += Math.exp(logits[offset + j]! - max);
  const logSum = Math.log(sum);
  const out = new Float64Array(V);
  for (let j = 0; j < V; j++) out[j] = logits[offset + j]! - max - logSum;
  return out;
}

/** losses[r] = −log softmax(logits[r])[targets[r]], and their mean. */
export function crossEntropyForwardCpu(args: CpuCrossEntropyArgs): { losses: Float64Array; mean: number } {
  checkTargets(args);
  const { logits, targets, rows, V } = args;
  const losses = new Float64Array(rows);
  for (let r = 0; r < rows; r++) losses[r] = -logSoftmaxRow(logits, r * V, V)[targets[r]!]!;
  const mean = losses.reduce((sum, x) => sum + x, 0) / rows;
  return { losses, mean };
}

/**
 * dlogits[r, j] = (softmax(logits[r])[j] − [j == targets[r]]) · dlossScale: the gradient of
 * dlossScale · Σ_r losses[r]. The default dlossScale 1/rows makes it the gradient of the mean loss.
 */
export function crossEntropyBackwardCpu(args: CpuCrossEntropyArgs & { dlossScale?: number }): Float64Array {
  checkTargets(args);
  const { logits, targets, rows, V } = args;
  const scale = args.dlossScale ?? 1 / rows;
  const dlogits = new Float64Array(rows * V);
  for (let r = 0; r < rows; r++) {
    const logProbs = logSoftmaxRow(logits, r * V, V);
    for (let j = 0; j < V; j++) {
      const onehot = j === targets[r] ? 1 : 0;
      dlogits[r * V + j] = (Math.exp(logProbs[j]!) - onehot) * scale;
    }
  }
  return dlogits;
}
