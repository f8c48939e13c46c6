// Browser-side halves of the attention-layout tests; heads.spec.ts calls these through inPage().
import { createBatch, type HeadShape, joinQkv, mergeHeads, splitHeads, splitQkv, storage } from '../../src/gpu';
import { joinQkvCpu, mergeHeadsCpu, splitHeadsCpu, splitQkvCpu } from '../../src/model/cpu/heads';
import { randomUniform } from '../../src/util/random';
import { checkExact, errorMessages, type OutputCheck, pageGpu, runKernels, unwritten } from './run-kernels';

/** All four permutes in one batch on random data, against the CPU reference; copies, so the check is exact. */
export async function headsCase(c: HeadShape & { seed: number }): Promise<OutputCheck[]> {
  const { B, T, H, D, seed } = c;
  const shape = { B, T, H, D };
  const n = B * H * T * D;
  const qkv = randomUniform(3 * n, seed);
  const dq = randomUniform(n, seed + 1);
  const dk = randomUniform(n, seed + 2);
  const dv = randomUniform(n, seed + 3);
  const o = randomUniform(n, seed + 4);
  const dy = randomUniform(n, seed + 5);
  const got = await runKernels(
    { qkv, dq, dk, dv, o, dy },
    { q: unwritten(n), k: unwritten(n), v: unwritten(n), dqkv: unwritten(3 * n), y: unwritten(n), dO: unwritten(n) },
    async (gpu, batch, b) => {
      await splitQkv(gpu, batch, { ...shape, qkv: b.qkv, q: b.q, k: b.k, v: b.v });
      await joinQkv(gpu, batch, { ...shape, dq: b.dq, dk: b.dk, dv: b.dv, dqkv: b.dqkv });
      await mergeHeads(gpu, batch, { ...shape, o: b.o, y: b.y });
      await splitHeads(gpu, batch, { ...shape, dy: b.dy, dO: b.dO });
    },
  );
  const want = splitQkvCpu(qkv, shape);
  return [
    checkExact('q', got.q, want.q),
    checkExact('k', got.k, want.k),
    checkExact('v', got.v, want.v),
    checkExact('dqkv', got.dqkv, joinQkvCpu(dq, dk, dv, shape)),
    checkExact('y', got.y, mergeHeadsCpu(o, shape)),
    checkExact('dO', got.dO, splitHeadsCpu(dy, shape)),
  ];
}

/** Bad sizes and undersized buffers get clear errors before anything reaches the GPU. */
export async function headsRejectsBadArgs(): Promise<string[]> {
  const gpu = await pageGpu();
  const small = storage(gpu, 4); // the pool rounds it up to 256 bytes: 64 floats
  const batch = createBatch(gpu, { label: 'bad-args' });
  const attempts: (() => Promise<void>)[] = [
    () => mergeHeads(gpu, batch, { B: 1, T: 0, H: 2, D: 3, o: small, y: small }),
    () => splitQkv(gpu, batch, { B: 1, T: 8, H: 1, D: 4, qkv: small, q: small, k: small, v: small }),
  ];
  const messages = await errorMessages(attempts);
  gpu.pool.release(small);
  return messages;
}
