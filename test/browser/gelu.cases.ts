// Browser-side halves of the GELU tests; gelu.spec.ts calls these through inPage().
import { geluBackward, geluForward } from '../../src/gpu';
import { geluBackwardCpu, geluForwardCpu } from '../../src/model/cpu/gelu';
import { randomUniform } from '../../src/util/random';
import { check, type OutputCheck, runKernels, unwritten } from './run-kernels';

/** Inputs far in both tails, where tanh saturates (and a naive exp-based tanh overflows). */
const EXTREMES = [0, 1e-4, -1e-4, 8, -8, 20, -20, 1e4, -1e4];

export interface GeluCase {
  n: number;
  seed: number;
  tol: Record<'y' | 'dx', { atol: number; rtol: number }>;
}

/** Forward and backward on random x in [-6, 6) plus the extremes, against the CPU reference. */
export async function geluCase(c: GeluCase): Promise<OutputCheck[]> {
  const x = randomUniform(c.n, c.seed, 6);
  x.set(EXTREMES.slice(0, c.n));
  const dy = randomUniform(c.n, c.seed + 1);
  const got = await runKernels({ x, dy }, { y: unwritten(c.n), dx: unwritten(c.n) }, async (gpu, batch, b) => {
    await geluForward(gpu, batch, { x: b.x, y: b.y, n: c.n });
    await geluBackward(gpu, batch, { x: b.x, dy: b.dy, dx: b.dx, n: c.n });
  });
  return [
    check('y', got.y, geluForwardCpu(x), c.tol.y.atol, c.tol.y.rtol),
    check('dx', got.dx, geluBackwardCpu(x, dy), c.tol.dx.atol, c.tol.dx.rtol),
  ];
}
