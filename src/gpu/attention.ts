import deltaSource from '../../kernels/attention_backward_delta.wgsl?raw';
import dkdvSource from '../../kernels/attention_backward_dkdv.wgsl?raw';
import dqSource from '../../kernels/attention_backward_dq.wgsl?raw';
import combineSource from '../../kernels/attention_combine.wgsl?raw';
import commonSource from '../../kernels/attention_common.wgsl?raw';
import forwardSource from '../../kernels/attention_forward.wgsl?raw';
import type { Batch, BufferRef } from './batch';
import type { Gpu } from './device';
import { GpuError } from './errors';
import { grid1d } from './grid';
import { MAX_HEAD_DIM } from './limits';
import type { KernelSpec } from './pipelines';
import { sumBlocksInto } from './sumblocks';
import { uniforms } from './uniforms';
import { requireElements, requireSizes } from './validate';

/**
 * A kernel's tiles: query rows (BR) and key rows (BC) per tile, and its threads: WG = groups ·
 * LANES, a group of LANES lanes per block of 4 rows of the tile the kernel keeps (queries for the
 * forward and dQ kernels, keys for dK/dV), the lanes sharing the blocks of the tiles it walks.
 * STRIDED: the conflict-free layout of attention_common.wgsl (a GPU shape), else rows in fours.
 */
export interface AttentionTiles {
  BR: number;
  BC: number;
  LANES: number;
  WG: number;
  STRIDED: boolean;
}

/** Tile candidates, largest first; each kernel takes the first whose workgroup memory fits the adapter. */
export const ATTENTION_TILE_CANDIDATES: [number, number][] = [
  [64, 64],
  [64, 32],
  [32, 32],
  [32, 16],
  [16, 16],
  [16, 8],
  [8, 8],
];
/** Threads of the delta pre-pass (one row each) and of the split combine (one element each). */
const THREADS = 64;
/**
 * Lanes per group. On a GPU 8: a group's lanes fill a quarter of a warp, and a 64-row tile gets 128
 * threads. On a CPU adapter the workgroup keeps today's 32–64 threads (about one per 4×4 score
 * block, at most 64), since each invocation that meets a barrier costs a context switch there.
 */
const GPU_LANES = 8;
const CPU_THREADS = { min: 32, max: 64 };
/**
 * Workgroups a kernel should launch to fill a GPU: one with 100+ compute units, each holding
 * several workgroups. A smaller grid (short sequences, few heads) splits each workgroup's walk.
 */
const GPU_WORKGROUPS = 512;

/** The kernels keep head vectors as vec4s in workgroup memory; the strided layout pads rows to an odd count. */
const rowVec4s = (D: number, strided: boolean) => (strided ? Math.ceil(D / 4) | 1 : Math.ceil(D / 4));

/** The three tiled kernels' uniforms: the sequence length and the score scale 1/√D. */
const PARAMS = uniforms({ T: 'u32', scale: 'f32' });
/** The delta pre-pass's and the split combine's: rows = B·H·T. */
const ROW_PARAMS = uniforms({ rows: 'u32' });
/** What the tiled kernels `#include`. */
const includes = { 'attention_common.wgsl': commonSource };

type TiledKernel = 'forward' | 'dq' | 'dkdv';

/** A tiled kernel's spec: its source with the shared code, specialised for head size D, its tiles and splits. */
function tiledSpec(kernel: TiledKernel, D: number, launch: AttentionLaunch): KernelSpec {
  const { BR, BC, LANES, STRIDED, splits } = launch;
  return {
    name: `attention_${kernel}`,
    source: { forward: forwardSource, dq: dqSource, dkdv: dkdvSource }[kernel],
    includes,
    consts: { HEAD_DIM: D, D4: Math.ceil(D / 4), BR, BC, LANES, STRIDED, SPLITS: splits },
    uniforms: PARAMS,
  };
}

/** Workgroup floats each kernel keeps, as in its WGSL: head-vector tiles, score tiles (rows padded when strided), the rest. */
const SHARED_FLOATS: Record<
  TiledKernel,
  (br: number, bc: number, d: number, strided: boolean, lanes: number) => number
> = {
  forward: (br, bc, d, s, lanes) => (br + 2 * bc) * 4 * rowVec4s(d, s) + br * (bc + Number(s)) + 2 * br * lanes,
  dq: (br, bc, d, s) => (2 * br + 2 * bc) * 4 * rowVec4s(d, s) + br * (bc + Number(s)),
  dkdv: (br, bc, d, s) => (2 * br + 2 * bc) * 4 * rowVec4s(d, s) + 2 * bc * (br + Number(s)) + 2 * br,
};

/**
 * Picks the largest tile whose workgroup memory fits this adapter, for one kernel, head size and
 * sequence length, and its lanes (see GPU_LANES). The dK/dV kernel owns key rows and walks query
 * tiles: it wants the taller key tile. In the backward kernels the rows a workgroup keeps are at
 * most half the sequence: a tile as tall as the sequence computes the masked triangle above the
 * diagonal in full (at T = 64, a 64-row tile computes 4/3 of the scores two 32-row tiles do), twice
 * over in the backward (S and dP); measured at the training shapes (T = 64), this made dQ 1.3×
 * faster on lavapipe, while the forward kernel ran faster on SwiftShader with the taller tile.
 */
export function attentionTiles(gpu: Gpu, kernel: TiledKernel, D: number, T: number): AttentionTiles {
  const limit = gpu.limits.maxComputeWorkgroupStorageSize;
  const smallest = ATTENTION_TILE_CANDIDATES.at(-1)![0];
  const STRIDED = gpu.variants.shapes === 'gpu';
  const candidates =
    kernel === 'dkdv' ? ATTENTION_TILE_CANDIDATES.map(([a, b]) => [b, a] as const) : ATTENTION_TILE_CANDIDATES;
  for (const [BR, BC] of candidates) {
    const [kept, walked] = kernel === 'dkdv' ? [BC, BR] : [BR, BC];
    const tallest = kernel === 'forward' ? T : T / 2;
    if (kept > Math.max(tallest, smallest) || walked > Math.max(T, smallest)) continue;
    const groups = kept / 4;
    const blocks = groups * (walked / 4);
    const threads =
      gpu.variants.shapes === 'gpu' ? groups * GPU_LANES : Math.min(Math.max(CPU_THREADS.min, blocks), CPU_THREADS.max);
    const LANES = Math.max(1, Math.min(walked / 4, Math.floor(threads / groups)));
    if (groups * LANES > gpu.limits.maxComputeInvocationsPerWorkgroup) continue;
    if (SHARED_FLOATS[kernel](BR, BC, D, STRIDED, LANES) * 4 > limit) continue;
    return { BR, BC, LANES, WG: groups * LANES, STRIDED };
  }
  throw new GpuError(
    `attention_${kernel}`,
    `head dimension ${D} needs more workgroup memory than this adapter's ${limit} bytes`,
  );
}

export interface AttentionShapeArgs {
  B: number;
  H: number;
  T: number;
  D: number;
}

/** How a tiled kernel runs: its tiles, and the shares its walk is split into. */
export interface AttentionLaunch extends AttentionTiles {
  splits: number;
}

/**
 * A tiled kernel's launch for a shape: its tiles (attentionTiles) and its splits, `forced` or chosen:
 * 1 on a CPU adapter (the extra pass only costs there), else enough to bring the grid to
 * GPU_WORKGROUPS, at most one tile per share.
 */
export function attentionLaunch(
  gpu: Gpu,
  kernel: TiledKernel,
  { B, H, T, D }: AttentionShapeArgs,
  forced?: number,
): AttentionLaunch {
  const tiles = attentionTiles(gpu, kernel, D, T);
  const [kept, walked] = kernel === 'dkdv' ? [tiles.BC, tiles.BR] : [tiles.BR, tiles.BC];
  const workgroups = Math.ceil(T / kept) * B * H;
  const chosen = gpu.variants.shapes === 'cpu' ? 1 : Math.ceil(GPU_WORKGROUPS / workgroups);
  return { ...tiles, splits: forced ?? Math.max(1, Math.min(Math.ceil(T / walked), chosen)) };
}

function validate(kernel: string, s: AttentionShapeArgs, buffers: Record<string, [BufferRef, number]>): void {
  requireSizes(kernel, { ...s });
  if (s.D > MAX_HEAD_DIM) throw new GpuError(kernel, `head dimension ${s.D} exceeds MAX_HEAD_DIM ${MAX_HEAD_DIM}`);
  const shape = `B=${s.B} H=${s.H} T=${s.T} D=${s.D}`;
  for (const [name, [buffer, floats]] of Object.entries(buffers)) requireElements(kernel, name, buffer, floats, shape);
}

/**
 * Splits of each workgroup's walk (keys for the forward and dQ, queries for dK/dV), to force one
 * path in tests: 1 runs without splits; absent, chosen from the grid (chooseSplits).
 */
export interface AttentionSplitOption {
  splits?: number;
}

function checkSplits(kernel: string, splits: number | undefined): void {
  if (splits !== undefined && (!Number.isInteger(splits) || splits < 1))
    throw new GpuError(kernel, `splits must be a positive integer, got ${splits}`);
}

/** Causal attention forward: o = softmax(q·kᵀ/√D, causal)·v, plus lse per row for the backward. Layout [B, H, T, D]. */
export async function attentionForward(
  gpu: Gpu,
  batch: Batch,
  args: AttentionShapeArgs &
    AttentionSplitOption & { q: BufferRef; k: BufferRef; v: BufferRef; o: BufferRef; lse: BufferRef },
): Promise<AttentionLaunch> {
  const { B, H, T, D } = args;
  const n = B * H * T * D;
  const rows = B * H * T;
  validate(
    'attention_forward',
    { B, H, T, D },
    { q: [args.q, n], k: [args.k, n], v: [args.v, n], o: [args.o, n], lse: [args.lse, rows] },
  );
  checkSplits('attention_forward', args.splits);
  const launch = attentionLaunch(gpu, 'forward', args, args.splits);
  const splits = launch.splits;
  // Split: each share writes its own slab of partial outputs, which the combine pass merges.
  const [o, lse] =
    splits === 1 ? [args.o, args.lse] : [batch.scratch(splits * n * 4), batch.scratch(splits * rows * 4)];
  batch.dispatch({
    kernel: 'attention_forward',
    pipeline: await gpu.pipelines.get(tiledSpec('forward', D, launch)),
    buffers: [args.q, args.k, args.v, o, lse],
    params: PARAMS.pack({ T, scale: 1 / Math.sqrt(D) }),
    workgroups: [Math.ceil(T / launch.BR), B * H, splits],
  });
  if (splits > 1) {
    const combine = {
      name: 'attention_combine',
      source: combineSource,
      consts: { HEAD_DIM: D, SPLITS: splits, WG: THREADS },
      uniforms: ROW_PARAMS,
    };
    batch.dispatch({
      kernel: combine.name,
      pipeline: await gpu.pipelines.get(combine),
      buffers: [o, lse, args.o, args.lse],
      params: ROW_PARAMS.pack({ rows }),
      workgroups: grid1d(n, THREADS, gpu.limits.maxComputeWorkgroupsPerDimension),
    });
  }
  return launch;
}

/** Causal attention backward from the forward's o and lse: dq, dk, dv (overwritten). Layout [B, H, T, D]. */
export async function attentionBackward(
  gpu: Gpu,
  batch: Batch,
  args: AttentionShapeArgs &
    AttentionSplitOption & {
      q: BufferRef;
      k: BufferRef;
      v: BufferRef;
      o: BufferRef;
      lse: BufferRef;
      dout: BufferRef;
      dq: BufferRef;
      dk: BufferRef;
      dv: BufferRef;
    },
): Promise<void> {
  const { B, H, T, D } = args;
  const n = B * H * T * D;
  const rows = B * H * T;
  validate(
    'attention_backward',
    { B, H, T, D },
    {
      q: [args.q, n],
      k: [args.k, n],
      v: [args.v, n],
      o: [args.o, n],
      lse: [args.lse, rows],
      dout: [args.dout, n],
      dq: [args.dq, n],
      dk: [args.dk, n],
      dv: [args.dv, n],
    },
  );
  checkSplits('attention_backward', args.splits);
  const delta = batch.scratch(rows * 4, 'attention-delta');
  const params = PARAMS.pack({ T, scale: 1 / Math.sqrt(D) });

  const deltaPipeline = await gpu.pipelines.get({
    name: 'attention_delta',
    source: deltaSource,
    consts: { HEAD_DIM: D, WG: THREADS },
    uniforms: ROW_PARAMS,
  });
  batch.dispatch({
    kernel: 'attention_delta',
    pipeline: deltaPipeline,
    buffers: [args.o, args.dout, delta],
    params: ROW_PARAMS.pack({ rows }),
    workgroups: grid1d(rows, THREADS, gpu.limits.maxComputeWorkgroupsPerDimension),
  });

  // Split: each share writes its own slab of partial gradients, which sum_blocks adds up.
  const slabs = (splits: number, out: BufferRef) => (splits === 1 ? out : batch.scratch(splits * n * 4));
  const addSlabs = async (splits: number, from: BufferRef, to: BufferRef) => {
    if (splits > 1) await sumBlocksInto(gpu, batch, { src: from, dst: to, n, blocks: splits, overwrite: true });
  };

  const dqLaunch = attentionLaunch(gpu, 'dq', args, args.splits);
  const dq = slabs(dqLaunch.splits, args.dq);
  batch.dispatch({
    kernel: 'attention_dq',
    pipeline: await gpu.pipelines.get(tiledSpec('dq', D, dqLaunch)),
    buffers: [args.q, args.k, args.v, args.dout, args.lse, delta, dq],
    params,
    workgroups: [Math.ceil(T / dqLaunch.BR), B * H, dqLaunch.splits],
  });
  await addSlabs(dqLaunch.splits, dq, args.dq);

  const kvLaunch = attentionLaunch(gpu, 'dkdv', args, args.splits);
  const [dk, dv] = [slabs(kvLaunch.splits, args.dk), slabs(kvLaunch.splits, args.dv)];
  batch.dispatch({
    kernel: 'attention_dkdv',
    pipeline: await gpu.pipelines.get(tiledSpec('dkdv', D, kvLaunch)),
    buffers: [args.q, args.k, args.v, args.dout, args.lse, delta, dk, dv],
    params,
    workgroups: [Math.ceil(T / kvLaunch.BC), B * H, kvLaunch.splits],
  });
  await addSlabs(kvLaunch.splits, dk, args.dk);
  await addSlabs(kvLaunch.splits, dv, args.dv);
}
