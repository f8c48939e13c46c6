import { LAYERNORM_EPS } from '../../util/model-constants';
import { type Floats, zerosLike } from './floats';

export interface LayernormForwardCpuArgs<F extends Floats> {
  /** [rows, C] */
  x: F;
  /** [C] */
  gamma: Floats;
  /** [C] */
  beta: Floats;
  rows: number;
  C: number;
  eps?: number;
}

export interface LayernormForwardCpuResult<F extends Floats> {
  /** [rows, C] */
  y: F;
  /** [rows]: saved for the backward pass. */
  mean: F;
  /** [rows]: 1 / √(variance + eps), saved for the backward pass. */
  rstd: F;
}

/**
 * LayerNorm over each row of x [rows, C], as GPT-2 and PyTorch (biased variance, ÷C):
 *   mean = Σx / C,   rstd = 1 / √(Σ(x − mean)² / C + eps),   y = (x − mean)·rstd·gamma + beta
 */
export function layernormForwardCpu<F extends Floats>(args: LayernormForwardCpuArgs<F>): LayernormForwardCpuResult<F> {
  const { x, gamma, beta, rows, C } = args;
  const eps = args.eps ?? LAYERNORM_EPS;
  const y = zerosLike(x, rows * C);
  const mean = zerosLike(x, rows);
  const rstd = zerosLike(x, rows);
  for (let r = 0; r < rows; r++) {
    const row = r * C;
    let sum = 0;
    for (let c = 0; c < C; c++) sum += x[row + c]!;
    const m = sum / C;
    let squares = 0;
    for (let c = 0; c < C; c++) squares += (x[row + c]! - m) ** 2;
    const s = 1 / Math.sqrt(squares / C + eps);
    for (let c = 0; c < C; c++) y[row + c] = (x[row + c]! - m) * s * gamma[c]! + beta[c]!;
    mean[r] = m;
    rstd[r] = s;
  }
  return { y, mean, rstd };
}

export interface LayernormBackwardCpuArgs<F extends Floats> {
  /** ∂L/∂y [rows, C] */
  dy: F;
  /** The forward pass's input [rows, C], mean and rstd [rows], and gamma [C]. */
  x: Floats;
  mean: Floats;
  rstd: Floats;
  gamma: Floats;
  rows: number;
  C: number;
}

export interface LayernormBackwardCpuResult<F extends Floats> {
  dx: F;
  dgamma: F;
  dbeta: F;
}

/**
 * Gradients of LayerNorm. With x̂ = (x − mean)·rstd and g = dy·gamma, per row:
 *   dx = rstd · (g − mean(g) − x̂ · mean(g·x̂))      (means over the row's C channels)
 * and over all rows:  dgamma = Σ dy·x̂,  dbeta = Σ dy.
 * Returns fresh gradients (the GPU launcher adds them into its buffers).
 */
export function layernormBackwardCpu<F extends Floats>(
  args: LayernormBackwardCpuArgs<F>,
): LayernormBackwardCpuResult<F> {
  const { dy, x, mean, rstd, gamma, rows, C } = args;
  const dx = zerosLike(dy, rows * C);
  const dgamma = zerosLike(dy, C);
  const dbeta = zerosLike(dy, C);
  const dgammaSum = new Float64Array(C);
  const dbetaSum = new Float64Array(C);
  for (let r = 0; r < rows; r++) {
    const row = r * C;
    const xhat = (c: number) => (x[row + c]! - mean[r]!) * rstd[r]!;
    let sumG = 0;
    let sumGXhat = 0;
    for (let c = 0; c < C; c++) {
      const g = dy[row + c]! * gamma[c]!;
      sumG += g;
      sumGXhat += g * xhat(c);
      dgammaSum[c]! += dy[row + c]! * xhat(c);
      dbetaSum[c]! += dy[row + c]!;
    }
    for (let c = 0; c < C; c++) {
      const g = dy[row + c]! * gamma[c]!;
      dx[row + c] = rstd[r]! * (g - sumG / C - xhat(c) * (sumGXhat / C));
    }
  }
  dgamma.set(dgammaSum);
  dbeta.set(dbetaSum);
  return { dx, dgamma, dbeta };
}
