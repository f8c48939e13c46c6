// DiLoCo's outer optimiser on the seed: SGD with Nesterov momentum over the aggregated
// pseudo-gradient Δ = start weights − end weights (so lr 1, momentum 0 would land on the mean end weights).

export interface OuterOptions {
  lr: number;
  momentum: number;
  nesterov: boolean;
}

/**
 * One outer step, in place: m ← μ·m + Δ; then params ← params − lr·(μ·m + Δ) with Nesterov,
 * params ← params − lr·m without (PyTorch's SGD convention, which DiLoCo uses).
 */
export function outerStep(params: Float32Array, momentum: Float32Array, delta: Float32Array, opts: OuterOptions): void {
  if (momentum.length !== params.length || delta.length !== params.length) {
    throw new RangeError(
      `outerStep: params ${params.length}, momentum ${momentum.length}, delta ${delta.length} floats`,
    );
  }
  const { lr, momentum: mu, nesterov } = opts;
  for (let i = 0; i < params.length; i++) {
    const d = delta[i]!;
    const m = mu * momentum[i]! + d;
    momentum[i] = m;
    params[i]! -= lr * (nesterov ? mu * m + d : m);
  }
}
