import deltaSource from '../../kernels/attention_backward_delta.wgsl?raw';
import dkdvSource from '../../kernels/attention_backward_dkdv.wgsl?raw';
import dqSource from '../../kernels/attention_backward_dq.wgsl?raw';
import commonSource from '../../kernels/attention_common.wgsl?raw';
import forwardSource from '../../kernels/attention_forward.wgsl?raw';
import type { Batch, BufferRef } from './batch';
import type { Gpu } from './device';
import { GpuError } from './errors';
import { grid1d } from './grid';
import { MAX_HEAD_DIM } from './limits';
import type { KernelSpec } from './pipelines';
import { uniforms } from './uniforms';
import { requireElements, requireSizes } from './validate';

/** Query rows (BR) and key rows (BC) per workgroup tile, and threads per workgroup. */
export interface AttentionTiles {
  BR: number;
  BC: number;
  WG: number;
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
/** Threads of the delta pre-pass (one row each). */
const THREADS = 64;
/** Threads per attention workgroup: one per 4×4 score block, within these bounds. */
const MIN_TILE_THREADS = 32;
const MAX_TILE_THREADS = 64;

/** The kernels keep head vectors as vec4s in workgroup memory, zero-padded to a multiple of 4. */
const padded = (D: number) => Math.ceil(D / 4) * 4;

/** The three tiled kernels' uniforms: the sequence length and the score scale 1/√D. */
const PARAMS = uniforms({ T: 'u32', scale: 'f32' });
/** The delta pre-pass's: rows = B·H·T. */
const DELTA_PARAMS = uniforms({ rows: 'u32' });
/** What the tiled kernels `#include`. */
const includes = { 'attention_common.wgsl': commonSource };

/** A tiled kernel's spec: its source with the shared code, specialised for head size D and its tiles. */
function tiledSpec(name: string, source: string, D: number, tiles: AttentionTiles): KernelSpec {
  return { name, source, includes, consts: { HEAD_DIM: D, D4: padded(D) / 4, ...tiles }, uniforms: PARAMS };
}

/** Workgroup floats each kernel keeps, as in its WGSL. */
const SHARED_FLOATS = {
  forward: (br: number, bc: number, d: number) => (br + 2 * bc) * padded(d) + br * bc + 3 * br,
  dq: (br: number, bc: number, d: number) => (2 * br + 2 * bc) * padded(d) + br * bc + 2 * br,
  dkdv: (br: number, bc: number, d: number) => (2 * br + 2 * bc) * padded(d) + 2 * br * bc + 2 * br,
};

/**
 * Picks the largest tile whose workgroup memory fits this adapter, for one kernel, head
 * size and sequence length (no taller than the sequence needs), with about one thread per
 * 4×4 score block: threads are busy in the score phase, and few wait at each barrier
 * (barriers are costly on CPU adapters).
 */
export function attentionTiles(gpu: Gpu, kernel: keyof typeof SHARED_FLOATS, D: number, T: number): AttentionTiles {
  const limit = gpu.limits.maxComputeWorkgroupStorageSize;
  const smallest = ATTENTION_TILE_CANDIDATES.at(-1)![0];
  // The dK/dV kernel owns key rows and walks query tiles: it wants the taller key tile.
  const candidates =
    kernel === 'dkdv' ? ATTENTION_TILE_CANDIDATES.map(([a, b]) => [b, a] as const) : ATTENTION_TILE_CANDIDATES;
  for (const [BR, BC] of candidates) {
    if (Math.max(BR, BC) > Math.max(T, smallest)) continue;
    const scoreBlocks = (BR / 4) * (BC / 4);
    const WG = Math.min(
      Math.max(MIN_TILE_THREADS, scoreBlocks),
      MAX_TILE_THREADS,
      gpu.limits.maxComputeInvocationsPerWorkgroup,
    );
    if (SHARED_FLOATS[kernel](BR, BC, D) * 4 <= limit) return { BR, BC, WG };
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

function validate(kernel: string, s: AttentionShapeArgs, buffers: Record<string, [BufferRef, number]>): void {
  requireSizes(kernel, { ...s });
  if (s.D > MAX_HEAD_DIM) throw new GpuError(kernel, `head dimension ${s.D} exceeds MAX_HEAD_DIM ${MAX_HEAD_DIM}`);
  const shape = `B=${s.B} H=${s.H} T=${s.T} D=${s.D}`;
  for (const [name, [buffer, floats]] of Object.entries(buffers)) requireElements(kernel, name, buffer, floats, shape);
}

/** Causal attention forward: o = softmax(q·kᵀ/√D, causal)·v, plus lse per row for the backward. Layout [B, H, T, D]. */
export async function attentionForward(
  gpu: Gpu,
  batch: Batch,
  args: AttentionShapeArgs & { q: BufferRef; k: BufferRef; v: BufferRef; o: BufferRef; lse: BufferRef },
): Promise<AttentionTiles> {
  const { B, H, T, D } = args;
  const n = B * H * T * D;
  validate(
    'attention_forward',
    { B, H, T, D },
    { q: [args.q, n], k: [args.k, n], v: [args.v, n], o: [args.o, n], lse: [args.lse, B * H * T] },
  );
  const tiles = attentionTiles(gpu, 'forward', D, T);
  const pipeline = await gpu.pipelines.get(tiledSpec('attention_forward', forwardSource, D, tiles));
  batch.dispatch({
    kernel: 'attention_forward',
    pipeline,
    buffers: [args.q, args.k, args.v, args.o, args.lse],
    params: PARAMS.pack({ T, scale: 1 / Math.sqrt(D) }),
    workgroups: [Math.ceil(T / tiles.BR), B * H],
  });
  return tiles;
}

/** Causal attention backward from the forward's o and lse: dq, dk, dv (overwritten). Layout [B, H, T, D]. */
export async function attentionBackward(
  gpu: Gpu,
  batch: Batch,
  args: AttentionShapeArgs & {
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
  const delta = batch.scratch(rows * 4, 'attention-delta');
  const params = PARAMS.pack({ T, scale: 1 / Math.sqrt(D) });

  const deltaPipeline = await gpu.pipelines.get({
    name: 'attention_delta',
    source: deltaSource,
    consts: { HEAD_DIM: D, WG: THREADS },
    uniforms: DELTA_PARAMS,
  });
  batch.dispatch({
    kernel: 'attention_delta',
    pipeline: deltaPipeline,
    buffers: [args.o, args.dout, delta],
    params: DELTA_PARAMS.pack({ rows }),
    workgroups: grid1d(rows, THREADS, gpu.limits.maxComputeWorkgroupsPerDimension),
  });

  const dqTiles = attentionTiles(gpu, 'dq', D, T);
  const dqPipeline = await gpu.pipelines.get(tiledSpec('attention_dq', dqSource, D, dqTiles));
  batch.dispatch({
    kernel: 'attention_dq',
    pipeline: dqPipeline,
    buffers: [args.q, args.k, args.v, args.dout, args.lse, delta, args.dq],
    params,
    workgroups: [Math.ceil(T / dqTiles.BR), B * H],
  });

  const kvTiles = attentionTiles(gpu, 'dkdv', D, T);
  const kvPipeline = await gpu.pipelines.get(tiledSpec('attention_dkdv', dkdvSource, D, kvTiles));
  batch.dispatch({
    kernel: 'attention_dkdv',
    pipeline: kvPipeline,
    buffers: [args.q, args.k, args.v, args.dout, args.lse, delta, args.dk, args.dv],
    params,
    workgroups: [Math.ceil(T / kvTiles.BC), B * H],
  });
}
