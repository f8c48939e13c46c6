// Browser-side halves of the AdamW tests.
import {
  type AdamWHyperparameters,
  acquireGpu,
  adamw,
  createBatch,
  type DecaySegment,
  encodeDecaySegments,
  type Gpu,
  globalNorm,
  readFloats,
  storage,
  upload,
  uploadDecaySegments,
} from '../../src/gpu';
import { adamwStepCpu } from '../../src/model/cpu/adamw';
import { randomUniform } from '../../src/util/random';
import { type Comparison, compareArrays } from '../harness/compare';
import { errorMessages } from './run-kernels';

let shared: Promise<Gpu> | undefined;
const gpu = () => (shared ??= acquireGpu());

interface Tolerance {
  atol: number;
  rtol: number;
}

export interface AdamWCase {
  n: number;
  seed: number;
  steps: number;
  segments: DecaySegment[];
  hyper: AdamWHyperparameters;
  /** Clip to this global gradient norm (computed on the GPU by globalNorm). */
  maxNorm?: number;
  tol: { params: Tolerance; m: Tolerance; v: Tolerance };
}

/** Several AdamW steps with fresh random gradients, on the GPU and the CPU reference, from the same start. */
export async function adamwCase(c: AdamWCase): Promise<Record<'params' | 'm' | 'v', Comparison>> {
  const g = await gpu();
  const { n } = c;
  const cpu = { params: randomUniform(n, c.seed), m: new Float32Array(n), v: new Float32Array(n) };
  const params = upload(g, cpu.params);
  const m = upload(g, cpu.m);
  const v = upload(g, cpu.v);
  const gradNorm = storage(g, 1);
  const segments = uploadDecaySegments(g, n, c.segments);

  for (let step = 1; step <= c.steps; step++) {
    const gradData = randomUniform(n, c.seed + step);
    const grads = upload(g, gradData);
    const run = createBatch(g, { label: 'adamw-test' });
    const clip = c.maxNorm === undefined ? undefined : { gradNorm, maxNorm: c.maxNorm };
    if (clip) await globalNorm(g, run, { grads, norm: gradNorm, n });
    await adamw(g, run, { ...c.hyper, params, grads, m, v, n, step, segments, clip });
    await run.submit();
    g.pool.release(grads);
    adamwStepCpu(cpu, gradData, { ...c.hyper, step, segments: c.segments, maxNorm: c.maxNorm });
  }
  const got = { params: await readFloats(g, params, n), m: await readFloats(g, m, n), v: await readFloats(g, v, n) };
  for (const b of [params, m, v, gradNorm, segments.buffer]) g.pool.release(b);
  return {
    params: compareArrays(got.params, cpu.params, c.tol.params.atol, c.tol.params.rtol),
    m: compareArrays(got.m, cpu.m, c.tol.m.atol, c.tol.m.rtol),
    v: compareArrays(got.v, cpu.v, c.tol.v.atol, c.tol.v.rtol),
  };
}

/** encodeDecaySegments on good and bad segment lists: the packed runs or the error message. */
export async function decaySegmentEncodings(): Promise<(number[] | string)[]> {
  const lists: [number, DecaySegment[]][] = [
    // Out of order, with an empty segment and neighbours of equal flags to merge.
    [
      10,
      [
        { offset: 6, length: 4, decay: true },
        { offset: 0, length: 2, decay: true },
        { offset: 2, length: 0, decay: false },
        { offset: 2, length: 3, decay: false },
        { offset: 5, length: 1, decay: false },
      ],
    ],
    [
      10,
      [
        { offset: 0, length: 4, decay: true },
        { offset: 5, length: 5, decay: false },
      ],
    ],
    [
      10,
      [
        { offset: 0, length: 6, decay: true },
        { offset: 5, length: 5, decay: false },
      ],
    ],
    [10, [{ offset: 0, length: 9, decay: true }]],
  ];
  return lists.map(([n, segments]) => {
    try {
      return [...encodeDecaySegments(n, segments)];
    } catch (e) {
      return (e as Error).message;
    }
  });
}

/** The launcher's error messages for bad hyperparameters and mismatched sizes. */
export async function adamwRejects(): Promise<string[]> {
  const g = await gpu();
  const n = 8;
  const [params, grads, m, v] = [storage(g, n), storage(g, n), storage(g, n), storage(g, n)];
  const segments = uploadDecaySegments(g, n, [{ offset: 0, length: n, decay: true }]);
  const base = {
    params,
    grads,
    m,
    v,
    n,
    step: 1,
    segments,
    lr: 1e-3,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0.1,
  };
  const run = createBatch(g, { label: 'adamw-rejects' });
  const attempts = [
    { ...base, step: 0 },
    { ...base, beta2: 1 },
    { ...base, n: 1000 },
    { ...base, clip: { gradNorm: params, maxNorm: 0 } },
  ];
  const messages = await errorMessages(attempts.map((args) => () => adamw(g, run, args)));
  for (const b of [params, grads, m, v, segments.buffer]) g.pool.release(b);
  return messages;
}
