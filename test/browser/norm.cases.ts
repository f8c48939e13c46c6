// Browser-side halves of the global-norm and GPU-sum tests.
import {
  acquireGpu,
  createBatch,
  globalNorm,
  type KernelVariants,
  readFloats,
  reduceSum,
  storage,
  sumBlocksInto,
  upload,
} from '../../src/gpu';
import { globalNormCpu } from '../../src/model/cpu/norm';
import { randomUniform } from '../../src/util/random';
import { check, type OutputCheck, pageGpu, runKernels } from './run-kernels';

export interface ReduceCase {
  n: number;
  seed: number;
  /** How many times to run the same reduction, for the determinism check. */
  runs: number;
  /** Kernel variants to force; the adapter's own when absent. */
  variants?: Partial<KernelVariants>;
}

export interface ReduceCaseResult {
  /** One result per run. */
  got: number[];
  want: number;
}

/** ‖x‖₂ of n random values (uniform in [-1, 1]) on the GPU, and in f64 on the CPU. */
export async function globalNormCase(c: ReduceCase): Promise<ReduceCaseResult> {
  const g = await pageGpu(c.variants);
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
  const g = await pageGpu(c.variants);
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
  const g = await pageGpu();
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

export interface SumBlocksCase {
  n: number;
  blocks: number;
  /** Floats before the first block. */
  offset: number;
  seed: number;
  atol: number;
  rtol: number;
  variants?: Partial<KernelVariants>;
}

/** dst += Σ_b src[offset + b·n + i] on random data, dst starting random (so the += is checked), against f64 sums. */
export async function sumBlocksCase(c: SumBlocksCase): Promise<OutputCheck[]> {
  const { n, blocks, offset } = c;
  const src = randomUniform(offset + n * blocks, c.seed);
  const dst = randomUniform(n, c.seed + 1);
  const got = await runKernels(
    { src },
    { dst: dst.slice() },
    (gpu, batch, b) => sumBlocksInto(gpu, batch, { src: b.src, dst: b.dst, n, blocks, offset }),
    c.variants,
  );
  const want = Float64Array.from(dst);
  for (let b = 0; b < blocks; b++) for (let i = 0; i < n; i++) want[i]! += src[offset + b * n + i]!;
  return [check('dst', got.dst, want, c.atol, c.rtol)];
}

/**
 * A device made without `subgroups` (as on an adapter that lacks them): the variants it gets, a sum
 * through its workgroup-memory reductions, and the error when subgroup reductions are forced on it.
 */
export async function withoutSubgroups() {
  const disableFeatures = ['subgroups' as GPUFeatureName];
  const gpu = await acquireGpu({ disableFeatures });
  const input = upload(
    gpu,
    Float32Array.from({ length: 1000 }, (_, i) => i + 1),
  );
  const output = storage(gpu, 1);
  const batch = createBatch(gpu, { label: 'sum-without-subgroups' });
  await reduceSum(gpu, batch, { input, output, n: 1000 });
  await batch.submit();
  const sum = (await readFloats(gpu, output, 1))[0]!;
  const result = { variants: gpu.variants, fallbackAdapter: gpu.adapter.isFallbackAdapter, sum, refused: 'no error' };
  gpu.destroy();
  try {
    (await acquireGpu({ disableFeatures, variants: { reductions: 'subgroup' } })).destroy();
  } catch (e) {
    result.refused = (e as Error).message;
  }
  return result;
}
