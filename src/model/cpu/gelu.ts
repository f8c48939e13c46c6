import { GELU_CUBIC, SQRT_2_OVER_PI } from '../../util/model-constants';
import { type Floats, zerosLike } from './floats';

/** GELU, tanh form as GPT-2:  y = 0.5·x·(1 + tanh(√(2/π)·(x + GELU_CUBIC·x³))). */
export function geluForwardCpu<F extends Floats>(x: F): F {
  const y = zerosLike(x, x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + GELU_CUBIC * v ** 3)));
  }
  return y;
}

/**
 * dx = dy · gelu'(x), where with u = √(2/π)·(x + GELU_CUBIC·x³):
 *   gelu'(x) = 0.5·(1 + tanh u) + 0.5·x·(1 − tanh² u)·√(2/π)·(1 + 3·GELU_CUBIC·x²)
 */
export function geluBackwardCpu<F extends Floats>(x: Floats, dy: F): F {
  const dx = zerosLike(dy, dy.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    const t = Math.tanh(SQRT_2_OVER_PI * (v + GELU_CUBIC * v ** 3));
    const du = SQRT_2_OVER_PI * (1 + 3 * GELU_CUBIC * v * v);
    dx[i] = dy[i]! * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du);
  }
  return dx;
}
