// Browser-side halves of the LayerNorm tests; layernorm.spec.ts calls these through inPage().
import { createBatch, type KernelVariants, layernormBackward, layernormForward, storage } from '../../src/gpu';
import { layernormBackwardCpu, layernormForwardCpu } from '../../src/model/cpu/layernorm';
import { randomUniform } from '../../src/util/random';
import { check, type OutputCheck, pageGpu, runKernels, unwritten } from './run-kernels';

export type Tolerance = { atol: number; rtol: number };

export interface LayernormCase {
  rows: number;
  C: number;
  seed: number;
  accumulateDx: boolean;
  /** Per output: y, mean, rstd, dx, dgamma, dbeta. */
  tol: Record<'y' | 'mean' | 'rstd' | 'dx' | 'dgamma' | 'dbeta', Tolerance>;
  /** Kernel variants to force; the adapter's own when absent. */
  variants?: Partial<KernelVariants>;
}

/** Forward then backward in one batch on random data (the backward reads the GPU's own mean and rstd), against the CPU reference. */
export async function layernormCase(c: LayernormCase): Promise<OutputCheck[]> {
  const { rows, C, seed, accumulateDx, tol } = c;
  const x = randomUniform(rows * C, seed, 2);
  const gamma = randomUniform(C, seed + 1);
  const beta = randomUniform(C, seed + 2);
  const dy = randomUniform(rows * C, seed + 3);
  // Gradients start non-zero, to check that they are added into.
  const dx0 = accumulateDx ? randomUniform(rows * C, seed + 4) : unwritten(rows * C);
  const dgamma0 = randomUniform(C, seed + 5);
  const dbeta0 = randomUniform(C, seed + 6);

  const got = await runKernels(
    { x, gamma, beta, dy },
    { y: unwritten(rows * C), mean: unwritten(rows), rstd: unwritten(rows), dx: dx0, dgamma: dgamma0, dbeta: dbeta0 },
    async (gpu, batch, b) => {
      await layernormForward(gpu, batch, {
        x: b.x,
        gamma: b.gamma,
        beta: b.beta,
        y: b.y,
        mean: b.mean,
        rstd: b.rstd,
        rows,
        C,
      });
      await layernormBackward(gpu, batch, {
        dy: b.dy,
        x: b.x,
        mean: b.mean,
        rstd: b.rstd,
        gamma: b.gamma,
        dx: b.dx,
        dgamma: b.dgamma,
        dbeta: b.dbeta,
        rows,
        C,
        accumulateDx,
      });
    },
    c.variants,
  );

  const fwd = layernormForwardCpu({ x, gamma, beta, rows, C });
  const grads = layernormBackwardCpu({ dy, x, mean: fwd.mean, rstd: fwd.rstd, gamma, rows, C });
  const added = (start: Float32Array, delta: Float32Array) => Float64Array.from(delta, (d, i) => start[i]! + d);
  return [
    check('y', got.y, fwd.y, tol.y.atol, tol.y.rtol),
    check('mean', got.mean, fwd.mean, tol.mean.atol, tol.mean.rtol),
    check('rstd', got.rstd, fwd.rstd, tol.rstd.atol, tol.rstd.rtol),
    check('dx', got.dx, accumulateDx ? added(dx0, grads.dx) : grads.dx, tol.dx.atol, tol.dx.rtol),
    check('dgamma', got.dgamma, added(dgamma0, grads.dgamma), tol.dgamma.atol, tol.dgamma.rtol),
    check('dbeta', got.dbeta, added(dbeta0, grads.dbeta), tol.dbeta.atol, tol.dbeta.rtol),
  ];
}

/** Bad sizes and undersized buffers get clear errors before anything reaches the GPU. */
export async function layernormRejectsBadArgs(): Promise<string[]> {
  const gpu = await pageGpu();
  const small = storage(gpu, 4);
  const batch = createBatch(gpu, { label: 'bad-args' });
  const messages: string[] = [];
  const attempts = [
    { rows: 0, C: 4 },
    { rows: 1, C: 2.5 },
    { rows: 64, C: 64 }, // the pool rounds `small` up to 256 bytes
  ];
  for (const { rows, C } of attempts) {
    try {
      await layernormForward(gpu, batch, {
        x: small,
        gamma: small,
        beta: small,
        y: small,
        mean: small,
        rstd: small,
        rows,
        C,
      });
      messages.push('no error');
    } catch (e) {
      messages.push((e as Error).message);
    }
  }
  gpu.pool.release(small);
  return messages;
}

/**
 * Three backward passes in one batch, small, large, small: they share the per-device partials
 * buffer, which the large one outgrows. Each must still get its own dgamma and dbeta.
 */
export async function layernormBackwardsShareScratch(tol: Tolerance): Promise<OutputCheck[]> {
  const shapes = [
    { rows: 5, C: 13 },
    { rows: 100, C: 77 },
    { rows: 7, C: 13 },
  ];
  const inputs: Record<string, Float32Array> = {};
  const outputs: Record<string, Float32Array> = {};
  shapes.forEach(({ rows, C }, i) => {
    inputs[`x${i}`] = randomUniform(rows * C, 10 * i);
    inputs[`dy${i}`] = randomUniform(rows * C, 10 * i + 1);
    inputs[`gamma${i}`] = randomUniform(C, 10 * i + 2);
    for (const name of ['y', 'dx', 'dgamma', 'dbeta'])
      outputs[`${name}${i}`] = new Float32Array(name === 'y' || name === 'dx' ? rows * C : C);
    outputs[`mean${i}`] = new Float32Array(rows);
    outputs[`rstd${i}`] = new Float32Array(rows);
  });
  const got = await runKernels(inputs, outputs, async (gpu, batch, b) => {
    for (const [i, { rows, C }] of shapes.entries()) {
      const [x, gamma, mean, rstd] = [b[`x${i}`]!, b[`gamma${i}`]!, b[`mean${i}`]!, b[`rstd${i}`]!];
      await layernormForward(gpu, batch, { x, gamma, beta: gamma, y: b[`y${i}`]!, mean, rstd, rows, C });
      await layernormBackward(gpu, batch, {
        dy: b[`dy${i}`]!,
        x,
        mean,
        rstd,
        gamma,
        dx: b[`dx${i}`]!,
        dgamma: b[`dgamma${i}`]!,
        dbeta: b[`dbeta${i}`]!,
        rows,
        C,
      });
    }
  });
  return shapes.flatMap(({ rows, C }, i) => {
    const [x, dy, gamma] = [inputs[`x${i}`]!, inputs[`dy${i}`]!, inputs[`gamma${i}`]!];
    const { mean, rstd } = layernormForwardCpu({ x, gamma, beta: gamma, rows, C });
    const grads = layernormBackwardCpu({ dy, x, mean, rstd, gamma, rows, C });
    return [
      check(`dgamma${i}`, got[`dgamma${i}`]!, grads.dgamma, tol.atol, tol.rtol),
      check(`dbeta${i}`, got[`dbeta${i}`]!, grads.dbeta, tol.atol, tol.rtol),
    ];
  });
}
