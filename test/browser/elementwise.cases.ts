// Browser-side halves of the elementwise tests; elementwise.spec.ts calls these through inPage().
import { add, addInto, createBatch, scale, storage } from '../../src/gpu';
import { randomUniform } from '../../src/util/random';
import { checkExact, errorMessages, type OutputCheck, pageGpu, runKernels, unwritten } from './run-kernels';

/** add, addInto and scale over n random floats; each is one f32 operation per element, so the check is exact. */
export async function elementwiseCase(c: { n: number; seed: number; factor: number }): Promise<OutputCheck[]> {
  const { n, factor } = c;
  const a = randomUniform(n, c.seed);
  const b = randomUniform(n, c.seed + 1);
  const dst = randomUniform(n, c.seed + 2);
  const x = randomUniform(n, c.seed + 3);
  const got = await runKernels({ a, b }, { sum: unwritten(n), dst, scaled: x }, async (gpu, batch, buf) => {
    await add(gpu, batch, { a: buf.a, b: buf.b, out: buf.sum, n });
    await addInto(gpu, batch, { dst: buf.dst, x: buf.a, n });
    await scale(gpu, batch, { x: buf.scaled, n, factor });
  });
  // Float32Array stores round each f64 result once, as the GPU rounds its f32 operation.
  const f32Factor = Math.fround(factor);
  return [
    checkExact(
      'add',
      got.sum,
      a.map((v, i) => v + b[i]!),
    ),
    checkExact(
      'addInto',
      got.dst,
      dst.map((v, i) => v + a[i]!),
    ),
    checkExact(
      'scale',
      got.scaled,
      x.map((v) => v * f32Factor),
    ),
  ];
}

/** Bad sizes and undersized buffers get clear errors before anything reaches the GPU. */
export async function elementwiseRejectsBadArgs(): Promise<string[]> {
  const gpu = await pageGpu();
  const small = storage(gpu, 4); // the pool rounds it up to 256 bytes: 64 floats
  const big = storage(gpu, 100);
  const batch = createBatch(gpu, { label: 'bad-args' });
  const attempts: (() => Promise<void>)[] = [
    () => scale(gpu, batch, { x: big, n: 0, factor: 2 }),
    () => add(gpu, batch, { a: small, b: small, out: big, n: 100 }),
  ];
  const messages = await errorMessages(attempts);
  gpu.pool.release(small);
  gpu.pool.release(big);
  return messages;
}
