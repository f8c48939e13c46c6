// Browser-side halves of the attention tests.

import { unfusedBackward, unfusedForward } from '../../bench/lib/unfused-attention';
import {
  attentionBackward,
  attentionForward,
  createBatch,
  type KernelVariants,
  readFloats,
  storage,
  upload,
} from '../../src/gpu';
import { attentionBackwardCpu, attentionForwardCpu } from '../../src/model/cpu/attention';
import { randomUniform } from '../../src/util/random';
import { type Comparison, compareArrays } from '../harness/compare';
import { errorMessages, pageGpu } from './run-kernels';

export interface AttentionCase {
  B: number;
  H: number;
  T: number;
  D: number;
  seed: number;
  /** Scale of q and k: large values make large scores, which test the softmax's stability. */
  qkScale?: number;
  tol: { atol: number; rtol: number };
  gradTol: { atol: number; rtol: number };
  /** Kernel variants to force (CPU- or GPU-shaped), and the splits of each kernel's walk; the adapter's own when absent. */
  variants?: Partial<KernelVariants>;
  splits?: number;
}

/** One comparison per output, and the splits the forward kernel ran with (1 for the unfused baseline). */
export interface AttentionCaseResult {
  checks: Record<string, Comparison>;
  splits: number;
}

/**
 * Forward and backward on the GPU against the CPU reference; one comparison per output.
 * `unfused` runs the benchmark's matmul + softmax baseline instead of the flash kernels.
 */
export async function attentionCase(c: AttentionCase & { unfused?: boolean }): Promise<AttentionCaseResult> {
  const g = await pageGpu(c.variants);
  const { B, H, T, D } = c;
  const n = B * H * T * D;
  const qData = randomUniform(n, c.seed, c.qkScale ?? 1);
  const kData = randomUniform(n, c.seed + 1, c.qkScale ?? 1);
  const vData = randomUniform(n, c.seed + 2);
  const doData = randomUniform(n, c.seed + 3);
  const [q, k, v, dout] = [qData, kData, vData, doData].map((x) => upload(g, x)) as [
    GPUBuffer,
    GPUBuffer,
    GPUBuffer,
    GPUBuffer,
  ];
  const o = storage(g, n);
  const lse = storage(g, B * H * T);
  const [dq, dk, dv] = [storage(g, n), storage(g, n), storage(g, n)];

  const run = createBatch(g, { label: 'attention-test' });
  let splits = 1;
  if (c.unfused) {
    const probs = run.scratch(B * H * T * T * 4);
    const dscores = run.scratch(B * H * T * T * 4);
    await unfusedForward(g, run, c, { q, k, v, o, probs });
    await unfusedBackward(g, run, c, { q, k, v, o, probs, dout, dq, dk, dv, dscores });
  } else {
    ({ splits } = await attentionForward(g, run, { B, H, T, D, q, k, v, o, lse, splits: c.splits }));
    await attentionBackward(g, run, { B, H, T, D, q, k, v, o, lse, dout, dq, dk, dv, splits: c.splits });
  }
  await run.submit();
  const got = {
    o: await readFloats(g, o, n),
    lse: await readFloats(g, lse, B * H * T),
    dq: await readFloats(g, dq, n),
    dk: await readFloats(g, dk, n),
    dv: await readFloats(g, dv, n),
  };
  for (const b of [q, k, v, dout, o, lse, dq, dk, dv]) g.pool.release(b);

  const fwd = attentionForwardCpu(c, qData, kData, vData);
  const bwd = attentionBackwardCpu(c, qData, kData, vData, doData);
  const checks = {
    o: compareArrays(got.o, fwd.o, c.tol.atol, c.tol.rtol),
    ...(c.unfused ? {} : { lse: compareArrays(got.lse, fwd.lse, c.tol.atol, c.tol.rtol) }),
    dq: compareArrays(got.dq, bwd.dq, c.gradTol.atol, c.gradTol.rtol),
    dk: compareArrays(got.dk, bwd.dk, c.gradTol.atol, c.gradTol.rtol),
    dv: compareArrays(got.dv, bwd.dv, c.gradTol.atol, c.gradTol.rtol),
  };
  return { checks, splits };
}

export async function attentionRejects(): Promise<string[]> {
  const g = await pageGpu();
  const small = storage(g, 4);
  const run = createBatch(g, { label: 'attention-bad' });
  const shapes = [
    { B: 1, H: 1, T: 0, D: 8 },
    { B: 1, H: 1, T: 4, D: 256 },
    { B: 1, H: 1, T: 40, D: 8 },
    { B: 1, H: 1, T: 4, D: 8, splits: 0 },
  ];
  const messages = await errorMessages(
    shapes.map(
      (shape) => () => attentionForward(g, run, { ...shape, q: small, k: small, v: small, o: small, lse: small }),
    ),
  );
  g.pool.release(small);
  return messages;
}
