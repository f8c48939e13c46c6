// Browser-side halves of the global-norm and GPU-sum tests.
import { acquireGpu, createBatch, type Gpu, globalNorm, readFloats, reduceSum, storage, upload } from '../../src/gpu';
import { globalNormCpu } from '../../src/model/cpu/norm';
import { randomUniform } from '../../src/util/random';

let shared: Promise<Gpu> | undefined;
const gpu = () => (shared ??= acquireGpu());

export interface ReduceCase {
  n: number;
  seed: number;
  /** How many times to run the same reduction, for the determinism check. */
  runs: number;
}

export interface ReduceCaseResult {
  /** One result per run. */
  got: number[];
  want: number;
}

/** ‖x‖₂ of n random values (uniform in [-1, 1]) on the GPU, and in f64 on the CPU. */
export async function globalNormCase(c: ReduceCase): Promise<ReduceCaseResult> {
  const g = await gpu();
  const data = randomUniform(c.n, c.seed);
  const grads = upload(g, data);
  const norm = storage(g, 1);
  const got: number[] = [];
  for (let i = 0; i < c.runs; i++) {
    const run = createBatch(g, { label: 'norm-test' });
    await globalNorm(g, run, { grads, norm, n: c.n });
    await run.submit();
    got.push((await readFloats(g, norm, 1))[0]!);
  }
  g.pool.release(grads);
  g.pool.release(norm);
  return { got, want: globalNormCpu(data) };
}

/** scale · Σ x over n random values in [0.5, 1.5) (positive, so the sum has no cancellation). */
export async function reduceSumCase(c: ReduceCase & { scale: number }): Promise<ReduceCaseResult> {
  const g = await gpu();
  const data = randomUniform(c.n, c.seed, 0.5).map((x) => x + 1);
  const input = upload(g, data);
  const output = storage(g, 1);
  const got: number[] = [];
  for (let i = 0; i < c.runs; i++) {
    const run = createBatch(g, { label: 'sum-test' });
    await reduceSum(g, run, { input, output, n: c.n, scale: c.scale });
    await run.submit();
    got.push((await readFloats(g, output, 1))[0]!);
  }
  g.pool.release(input);
  g.pool.release(output);
  let want = 0;
  for (const x of data) want += x;
  return { got, want: want * c.scale };
}

/** The launcher's error messages for a bad length and an undersized input. */
export async function globalNormRejects(): Promise<string[]> {
  const g = await gpu();
  const grads = storage(g, 10);
  const run = createBatch(g, { label: 'norm-rejects' });
  const messages: string[] = [];
  for (const n of [0, 100_000]) {
    try {
      await globalNorm(g, run, { grads, norm: grads, n });
      messages.push('no error');
    } catch (e) {
      messages.push((e as Error).message);
    }
  }
  g.pool.release(grads);
  return messages;
}
