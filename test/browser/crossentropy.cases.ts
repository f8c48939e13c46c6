// Browser-side halves of the softmax + cross-entropy tests.
import {
  createBatch,
  crossEntropyBackward,
  crossEntropyForward,
  type KernelVariants,
  readFloats,
  storage,
  upload,
} from '../../src/gpu';
import { crossEntropyBackwardCpu, crossEntropyForwardCpu } from '../../src/model/cpu/crossentropy';
import { createRandom, randomUniform } from '../../src/util/random';
import { type Comparison, compareArrays } from '../harness/compare';
import { errorMessages, pageGpu } from './run-kernels';

interface Tolerance {
  atol: number;
  rtol: number;
}

export interface CrossEntropyCase {
  rows: number;
  V: number;
  seed: number;
  /** Logits are uniform in [-logitScale, logitScale]. */
  logitScale: number;
  /** Every third row gets one logit of 1e3 (at its target on even rows, elsewhere on odd ones). */
  dominant: boolean;
  inPlace: boolean;
  tol: Tolerance;
  gradTol: Tolerance;
  /** Kernel variants to force; the adapter's own when absent. */
  variants?: Partial<KernelVariants>;
}

function makeInputs(c: { rows: number; V: number; seed: number; logitScale: number; dominant: boolean }) {
  const logits = randomUniform(c.rows * c.V, c.seed, c.logitScale);
  const next = createRandom(c.seed + 1);
  const targets = Uint32Array.from({ length: c.rows }, () => Math.floor(next() * c.V));
  if (c.dominant) {
    for (let r = 0; r < c.rows; r += 3) {
      const at = r % 2 === 0 ? targets[r]! : (targets[r]! + 1) % c.V;
      logits[r * c.V + at] = 1e3;
    }
  }
  return { logits, targets };
}

/** Forward (losses and their GPU mean) then backward, on the GPU and the CPU reference. */
export async function crossEntropyCase(c: CrossEntropyCase): Promise<Record<string, Comparison>> {
  const g = await pageGpu(c.variants);
  const { rows, V } = c;
  const { logits: logitsData, targets: targetsData } = makeInputs(c);
  const logits = upload(g, logitsData);
  const targets = upload(g, targetsData);
  const losses = storage(g, rows);
  const meanLoss = storage(g, 1);
  const dlogits = c.inPlace ? logits : storage(g, rows * V);

  const run = createBatch(g, { label: 'crossentropy-test' });
  await crossEntropyForward(g, run, { logits, targets, losses, meanLoss, rows, V, hostTargets: targetsData });
  await crossEntropyBackward(g, run, { logits, targets, dlogits, rows, V, hostTargets: targetsData });
  await run.submit();
  const got = {
    losses: await readFloats(g, losses, rows),
    mean: await readFloats(g, meanLoss, 1),
    dlogits: await readFloats(g, dlogits, rows * V),
    logits: await readFloats(g, logits, rows * V),
  };
  for (const b of new Set([logits, targets, losses, meanLoss, dlogits])) g.pool.release(b);

  const args = { logits: logitsData, targets: targetsData, rows, V };
  const want = crossEntropyForwardCpu(args);
  const scale = 1 / rows;
  const result: Record<string, Comparison> = {
    losses: compareArrays(got.losses, want.losses, c.tol.atol, c.tol.rtol),
    mean: compareArrays(got.mean, [want.mean], c.tol.atol, c.tol.rtol),
    // Gradients are (p − onehot)/rows: the tolerance is in units of the scale.
    dlogits: compareArrays(got.dlogits, crossEntropyBackwardCpu(args), c.gradTol.atol * scale, c.gradTol.rtol),
  };
  // A separate output must leave the logits bit for bit as they were (the smallest atol: exact).
  if (!c.inPlace) result.logitsKept = compareArrays(got.logits, logitsData, Number.MIN_VALUE, 0);
  return result;
}

/**
 * A target ≥ V that reaches the GPU: its loss must be NaN and its gradient row plain
 * softmax (no one-hot term); the other row is unaffected.
 */
export async function crossEntropyBadTargetOnGpu(): Promise<{ losses: number[]; gradRowSum: number[] }> {
  const g = await pageGpu();
  const rows = 2;
  const V = 5;
  const logits = upload(g, randomUniform(rows * V, 3));
  const targets = upload(g, new Uint32Array([7, 2]));
  const losses = storage(g, rows);
  const run = createBatch(g, { label: 'crossentropy-bad-target' });
  await crossEntropyForward(g, run, { logits, targets, losses, rows, V });
  await crossEntropyBackward(g, run, { logits, targets, dlogits: logits, rows, V, dlossScale: 1 });
  await run.submit();
  const lossValues = await readFloats(g, losses, rows);
  const grads = await readFloats(g, logits, rows * V);
  for (const b of [logits, targets, losses]) g.pool.release(b);
  // Σ_j (p_j − onehot_j) is 1 without the one-hot term, 0 with it.
  const rowSum = (r: number) => grads.subarray(r * V, (r + 1) * V).reduce((s, x) => s + x, 0);
  return { losses: [...lossValues].map((x) => (Number.isNaN(x) ? -1 : x)), gradRowSum: [rowSum(0), rowSum(1)] };
}

/** The launcher's error messages for bad shapes, small buffers and bad host targets. */
export async function crossEntropyRejects(): Promise<string[]> {
  const g = await pageGpu();
  const logits = storage(g, 12);
  const targets = upload(g, new Uint32Array([0, 1, 2]));
  const losses = storage(g, 3);
  const run = createBatch(g, { label: 'crossentropy-rejects' });
  const attempts = [
    () => crossEntropyForward(g, run, { logits, targets, losses, rows: 0, V: 4 }),
    () => crossEntropyForward(g, run, { logits, targets, losses, rows: 3, V: 1000 }),
    () => crossEntropyForward(g, run, { logits, targets, losses, rows: 3, V: 4, hostTargets: [0, 4, 1] }),
    () => crossEntropyBackward(g, run, { logits, targets, dlogits: losses, rows: 3, V: 4, hostTargets: [0, 1] }),
  ];
  const messages = await errorMessages(attempts);
  for (const b of [logits, targets, losses]) g.pool.release(b);
  return messages;
}
