// Browser-side halves of the embedding tests; embedding.spec.ts calls these through inPage().
import { createBatch, type EmbeddingShape, embeddingBackward, embeddingForward, storage } from '../../src/gpu';
import { embeddingBackwardCpu, embeddingForwardCpu } from '../../src/model/cpu/embedding';
import { createRandom, randomUniform } from '../../src/util/random';
import { check, checkExact, errorMessages, type OutputCheck, pageGpu, runKernels, unwritten } from './run-kernels';

export interface EmbeddingCase extends EmbeddingShape {
  seed: number;
  /** Token ids are drawn from [0, vocabUsed): a small range makes long row lists. Default V. */
  vocabUsed?: number;
  /** Tolerance of dwte and dwpe (sums over rows); out is one addition, checked exactly. */
  atol: number;
  rtol: number;
}

/** Forward and backward on random weights and tokens, against the CPU reference. */
export async function embeddingCase(c: EmbeddingCase): Promise<OutputCheck[]> {
  const { B, T, C, V, maxT, seed } = c;
  const next = createRandom(seed);
  const tokens = Uint32Array.from({ length: B * T }, () => Math.floor(next() * (c.vocabUsed ?? V)));
  const wte = randomUniform(V * C, seed + 1);
  const wpe = randomUniform(maxT * C, seed + 2);
  const dout = randomUniform(B * T * C, seed + 3);
  // Parameter gradients start non-zero, to check that they are added into.
  const dwte0 = randomUniform(V * C, seed + 4);
  const dwpe0 = randomUniform(maxT * C, seed + 5);
  const shape = { B, T, C, V, maxT };

  const got = await runKernels(
    { tokens, wte, wpe, dout },
    { out: unwritten(B * T * C), dwte: dwte0, dwpe: dwpe0 },
    async (gpu, batch, b) => {
      await embeddingForward(gpu, batch, { ...shape, tokens: b.tokens, wte: b.wte, wpe: b.wpe, out: b.out });
      await embeddingBackward(gpu, batch, { ...shape, tokens, dout: b.dout, dwte: b.dwte, dwpe: b.dwpe });
    },
  );

  const grads = embeddingBackwardCpu({ tokens, dout, V, maxT, B, T, C });
  const added = (start: Float32Array, delta: Float32Array) => Float64Array.from(delta, (d, i) => start[i]! + d);
  return [
    checkExact('out', got.out, embeddingForwardCpu({ tokens, wte, wpe, B, T, C })),
    check('dwte', got.dwte, added(dwte0, grads.dwte), c.atol, c.rtol),
    check('dwpe', got.dwpe, added(dwpe0, grads.dwpe), c.atol, c.rtol),
  ];
}

/** Out-of-range tokens, too many positions and undersized buffers get clear errors before anything reaches the GPU. */
export async function embeddingRejectsBadArgs(): Promise<string[]> {
  const gpu = await pageGpu();
  const small = storage(gpu, 4); // the pool rounds it up to 256 bytes: 64 floats
  const batch = createBatch(gpu, { label: 'bad-args' });
  const shape = { B: 1, T: 4, C: 2, V: 8, maxT: 4 };
  const attempts: (() => Promise<void>)[] = [
    () =>
      embeddingBackward(gpu, batch, {
        ...shape,
        tokens: new Uint32Array([0, 1, 8, 2]),
        dout: small,
        dwte: small,
        dwpe: small,
      }),
    () =>
      embeddingBackward(gpu, batch, {
        ...shape,
        tokens: new Uint32Array([0, 1]),
        dout: small,
        dwte: small,
        dwpe: small,
      }),
    () => embeddingForward(gpu, batch, { ...shape, T: 5, tokens: small, wte: small, wpe: small, out: small }),
    () => embeddingForward(gpu, batch, { ...shape, V: 100, tokens: small, wte: small, wpe: small, out: small }),
  ];
  const messages = await errorMessages(attempts);
  gpu.pool.release(small);
  return messages;
}
