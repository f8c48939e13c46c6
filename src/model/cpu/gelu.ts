import { type Floats, zerosLike } from './floats';

/** √(2/π) and the cubic coefficient of GPT-2's tanh approximation of GELU. */
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const CUBIC = 0.044715;

/** GELU, tanh form as GPT-2:  y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluForwardCpu<F extends Floats>(x: F): F {
  const y = zerosLike(x, x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + CUBIC * v ** 3)));
  }
  return y;
}

/**
 * dx = dy · gelu'(x), where with u = √(2/π)·(x + 0.044715·x³):
 *   gelu'(x) = 0.5·(1 + tanh u) + 0.5·x·(1 − tanh² u)·√(2/π)·(1 + 3·0.044715·x²)
 */
export function geluBackwardCpu<F extends Floats>(x: Floats, dy: F): F {
  const dx = zerosLike(dy, dy.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    const t = Math.tanh(SQRT_2_OVER_PI * (v + CUBIC * v ** 3));
    const du = SQRT_2_OVER_PI * (1 + 3 * CUBIC * v * v);
    dx[i] = dy[i]! * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du);
  }
  return dx;
}
