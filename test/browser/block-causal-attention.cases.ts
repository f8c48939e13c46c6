// Browser-side halves of the block-causal attention baseline's tests (bench/lib/block-causal-attention.ts).

import { blockCausalBackward, blockCausalForward } from '../../bench/lib/block-causal-attention';
import { unfusedBackward, unfusedForward } from '../../bench/lib/unfused-attention';
import { attentionBackwardCpu, attentionForwardCpu } from '../../src/model/cpu/attention';
import { randomUniform } from '../../src/util/random';
import { type Comparison, compareArrays } from '../harness/compare';
import { runKernels, unwritten } from './run-kernels';

export interface BlockCausalCase {
  B: number;
  H: number;
  T: number;
  D: number;
  /** The causal block: query rows × keys. */
  BR: number;
  BC: number;
  /** The benchmark's full unfused baseline in the block's tiles, instead of the block-causal one. */
  full?: boolean;
  seed: number;
  tol: { atol: number; rtol: number };
  gradTol: { atol: number; rtol: number };
}

/** Score entries of the T×T probs and dscores buffers, by whether their block is computed, that the baseline left as it found them (NaN). */
export interface UntouchedEntries {
  /** Of the computed blocks (every one must be written). */
  computed: number;
  /** Of the skipped blocks (none may be written). */
  skipped: number;
  skippedTotal: number;
}

/**
 * Forward and backward of the block-causal baseline (or the full one) against the CPU reference,
 * with the T×T buffers starting as NaN: a read of a skipped block would poison the outputs, and
 * the entries left untouched show which blocks were computed.
 */
export async function blockCausalCase(
  c: BlockCausalCase,
): Promise<{ comparisons: Record<string, Comparison>; probs: UntouchedEntries; dscores: UntouchedEntries }> {
  const { B, H, T, D } = c;
  const n = B * H * T * D;
  const scores = B * H * T * T;
  const inputs = {
    q: randomUniform(n, c.seed),
    k: randomUniform(n, c.seed + 1),
    v: randomUniform(n, c.seed + 2),
    dout: randomUniform(n, c.seed + 3),
  };
  const got = await runKernels(
    inputs,
    {
      o: unwritten(n),
      dq: unwritten(n),
      dk: unwritten(n),
      dv: unwritten(n),
      probs: unwritten(scores),
      dscores: unwritten(scores),
    },
    async (gpu, batch, b) => {
      const block = { BR: c.BR, BC: c.BC };
      if (c.full) {
        await unfusedForward(gpu, batch, c, b, block);
        await unfusedBackward(gpu, batch, c, b, block);
      } else {
        await blockCausalForward(gpu, batch, c, block, b);
        await blockCausalBackward(gpu, batch, c, block, b);
      }
    },
  );
  const fwd = attentionForwardCpu(c, inputs.q, inputs.k, inputs.v);
  const bwd = attentionBackwardCpu(c, inputs.q, inputs.k, inputs.v, inputs.dout);
  return {
    comparisons: {
      o: compareArrays(got.o, fwd.o, c.tol.atol, c.tol.rtol),
      dq: compareArrays(got.dq, bwd.dq, c.gradTol.atol, c.gradTol.rtol),
      dk: compareArrays(got.dk, bwd.dk, c.gradTol.atol, c.gradTol.rtol),
      dv: compareArrays(got.dv, bwd.dv, c.gradTol.atol, c.gradTol.rtol),
    },
    probs: untouched(got.probs, c),
    dscores: untouched(got.dscores, c),
  };
}

/** Counts the NaNs left in a [B·H, T, T] buffer, in computed and in skipped blocks. */
function untouched(x: Float32Array, c: BlockCausalCase): UntouchedEntries {
  const { T, BR, BC } = c;
  const counts = { computed: 0, skipped: 0, skippedTotal: 0 };
  for (let head = 0; head < c.B * c.H; head++) {
    for (let query = 0; query < T; query++) {
      // The query's block computes the key blocks that start before its last query + 1.
      const lastQuery = Math.min((Math.floor(query / BR) + 1) * BR, T) - 1;
      for (let key = 0; key < T; key++) {
        const computed = Math.floor(key / BC) * BC <= lastQuery;
        const nan = Number.isNaN(x[(head * T + query) * T + key]!);
        if (computed && nan) counts.computed++;
        if (!computed) counts.skippedTotal++;
        if (!computed && nan) counts.skipped++;
      }
    }
  }
  return counts;
}
