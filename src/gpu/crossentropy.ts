import crossEntropySource from '../../kernels/crossentropy.wgsl?raw';
import type { Batch, BufferRef } from './batch';
import type { Gpu } from './device';
import { GpuError } from './errors';
import { grid1d } from './grid';
import { reduceSum, reductionIncludes } from './norm';
import type { KernelSpec } from './pipelines';
import { unusedBinding } from './placeholder';
import { uniforms } from './uniforms';
import { requireElements, requireSizes } from './validate';

/**
 * One workgroup per row; the row's V logits are strided over its threads. On a GPU about one
 * thread per 4 logits, from 64 to 1024 (a large vocabulary's row is read by many threads at once).
 * On a CPU adapter one per 8, from 32 to 256: there idle threads still pay for every barrier.
 */
function rowThreads(gpu: Gpu, V: number): number {
  const [perThread, min, max] =
    gpu.variants.shapes === 'cpu'
      ? [8, 32, 256]
      : [4, 64, Math.min(1024, gpu.limits.maxComputeInvocationsPerWorkgroup)];
  return Math.min(max, Math.max(min, 2 ** Math.ceil(Math.log2(V / perThread))));
}

const PARAMS = uniforms({
  rows: 'u32',
  V: 'u32',
  /** dloss for every row: 1/rows for a mean loss. */
  scale: 'f32',
  /** NaN, the loss of a target ≥ V (WGSL cannot spell a NaN constant). */
  invalidLoss: 'f32',
});

/** Logits [rows, V] (row-major f32) and one target class per row (u32). */
interface CrossEntropyShape {
  logits: BufferRef;
  targets: BufferRef;
  rows: number;
  V: number;
  /**
   * The same targets on the CPU, when the caller has them: checked to be < V, since the
   * kernel cannot throw (on the GPU an out-of-range target gives a NaN loss and no one-hot term).
   */
  hostTargets?: ArrayLike<number>;
}

export interface CrossEntropyForwardArgs extends CrossEntropyShape {
  /** losses[r] = −log softmax(logits[r])[targets[r]], [rows] f32. */
  losses: BufferRef;
  /** When given, meanLoss[0] = mean of the losses, reduced on the GPU. */
  meanLoss?: BufferRef;
}

export interface CrossEntropyBackwardArgs extends CrossEntropyShape {
  /** dlogits [rows, V] = (softmax(logits) − onehot(targets)) · dlossScale. Pass `logits` itself to write in place. */
  dlogits: BufferRef;
  /** The loss gradient of every row: 1/rows (the default) for a mean loss. */
  dlossScale?: number;
}

const shape = ({ rows, V }: CrossEntropyShape) => `rows=${rows} V=${V}`;

function validate(kernel: string, args: CrossEntropyShape): void {
  const { rows, V } = args;
  requireSizes(kernel, { rows, V });
  requireElements(kernel, 'logits', args.logits, rows * V, shape(args));
  requireElements(kernel, 'targets', args.targets, rows, shape(args));
  if (args.hostTargets) {
    if (args.hostTargets.length !== rows) {
      throw new GpuError(kernel, `hostTargets has ${args.hostTargets.length} entries, expected rows=${rows}`);
    }
    for (let r = 0; r < rows; r++) {
      const t = args.hostTargets[r]!;
      if (!Number.isInteger(t) || t < 0 || t >= V)
        throw new GpuError(kernel, `target ${t} at row ${r} is not a class in [0, ${V})`);
    }
  }
}

async function launch(
  gpu: Gpu,
  batch: Batch,
  kernel: string,
  args: CrossEntropyShape,
  variant: { backward: boolean; inPlace: boolean; out: BufferRef; scale: number },
): Promise<void> {
  const spec: KernelSpec = {
    name: kernel,
    source: crossEntropySource,
    includes: reductionIncludes(gpu),
    consts: { THREADS: rowThreads(gpu, args.V), BACKWARD: variant.backward, IN_PLACE: variant.inPlace },
    uniforms: PARAMS,
  };
  const params = PARAMS.pack({ rows: args.rows, V: args.V, scale: variant.scale, invalidLoss: NaN });
  const pipeline = await gpu.pipelines.get(spec);
  const workgroups = grid1d(args.rows, 1, gpu.limits.maxComputeWorkgroupsPerDimension);
  batch.dispatch({ kernel, pipeline, buffers: [args.logits, args.targets, variant.out], params, workgroups });
}

/** Records the per-row losses (and optionally their mean) into `batch`. */
export async function crossEntropyForward(gpu: Gpu, batch: Batch, args: CrossEntropyForwardArgs): Promise<void> {
  const kernel = 'crossentropy_forward';
  validate(kernel, args);
  requireElements(kernel, 'losses', args.losses, args.rows, shape(args));
  await launch(gpu, batch, kernel, args, { backward: false, inPlace: false, out: args.losses, scale: 1 });
  if (args.meanLoss)
    await reduceSum(gpu, batch, { input: args.losses, output: args.meanLoss, n: args.rows, scale: 1 / args.rows });
}

/** Records the logits gradient into `batch`, in place over the logits when `dlogits === logits`. */
export async function crossEntropyBackward(gpu: Gpu, batch: Batch, args: CrossEntropyBackwardArgs): Promise<void> {
  const kernel = 'crossentropy_backward';
  validate(kernel, args);
  const scale = args.dlossScale ?? 1 / args.rows;
  if (!Number.isFinite(scale)) throw new GpuError(kernel, `dlossScale must be finite, got ${scale}`);
  const inPlace = args.dlogits === args.logits;
  if (!inPlace) requireElements(kernel, 'dlogits', args.dlogits, args.rows * args.V, shape(args));
  const out = inPlace ? unusedBinding(gpu) : args.dlogits;
  await launch(gpu, batch, kernel, args, { backward: true, inPlace, out, scale });
}
