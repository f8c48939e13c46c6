import source from '../../kernels/heads_permute.wgsl?raw';
import type { Batch, BufferRef } from './batch';
import type { Gpu } from './device';
import { grid1d } from './grid';
import { uniforms } from './uniforms';
import { requireAll, requireElements, requireSizes } from './validate';

const THREADS = 256;
/** n = B·H·T·D elements of one slot; the token-major side has `slots` slots, this dispatch moves `slot`. */
const PARAMS = uniforms({ n: 'u32', T: 'u32', H: 'u32', D: 'u32', slots: 'u32', slot: 'u32' });

/**
 * Attention's layouts: token-major [B, T, slots, H, D] (qkv has 3 slots, q k v, of C = H·D
 * channels; the merged output has 1) and head-major [B, H, T, D], one tensor per slot.
 */
export interface HeadShape {
  B: number;
  T: number;
  H: number;
  D: number;
}

/** Validates, then copies each head-major tensor to or from its slot of the token-major one. */
async function permute(
  gpu: Gpu,
  batch: Batch,
  kernel: string,
  shape: HeadShape,
  tokenMajor: { label: string; buffer: BufferRef },
  perSlot: Record<string, BufferRef>,
  toHeads: boolean,
): Promise<void> {
  const { B, T, H, D } = shape;
  requireSizes(kernel, { B, T, H, D });
  const n = B * H * T * D;
  const slots = Object.keys(perSlot).length;
  const text = `B=${B} T=${T} H=${H} D=${D}`;
  requireElements(kernel, tokenMajor.label, tokenMajor.buffer, slots * n, text);
  requireAll(kernel, perSlot, n, text);

  const spec = { name: 'heads_permute', source, consts: { THREADS, TO_HEADS: toHeads }, uniforms: PARAMS };
  const pipeline = await gpu.pipelines.get(spec);
  const workgroups = grid1d(n, THREADS, gpu.limits.maxComputeWorkgroupsPerDimension);
  for (const [slot, heads] of Object.values(perSlot).entries()) {
    const buffers = toHeads ? [tokenMajor.buffer, heads] : [heads, tokenMajor.buffer];
    batch.dispatch({ kernel, pipeline, buffers, params: PARAMS.pack({ n, T, H, D, slots, slot }), workgroups });
  }
}

/** qkv [B, T, 3·C] (laid out [B, T, 3, H, D]) → q, k, v, each [B, H, T, D]. */
export async function splitQkv(
  gpu: Gpu,
  batch: Batch,
  args: HeadShape & { qkv: BufferRef; q: BufferRef; k: BufferRef; v: BufferRef },
): Promise<void> {
  const { qkv, q, k, v } = args;
  await permute(gpu, batch, 'split_qkv', args, { label: 'qkv', buffer: qkv }, { q, k, v }, true);
}

/** The backward of splitQkv: dq, dk, dv [B, H, T, D] → dqkv [B, T, 3·C], every element written. */
export async function joinQkv(
  gpu: Gpu,
  batch: Batch,
  args: HeadShape & { dq: BufferRef; dk: BufferRef; dv: BufferRef; dqkv: BufferRef },
): Promise<void> {
  const { dq, dk, dv, dqkv } = args;
  await permute(gpu, batch, 'join_qkv', args, { label: 'dqkv', buffer: dqkv }, { dq, dk, dv }, false);
}

/** o [B, H, T, D] → y [B, T, H·D]. */
export async function mergeHeads(
  gpu: Gpu,
  batch: Batch,
  args: HeadShape & { o: BufferRef; y: BufferRef },
): Promise<void> {
  await permute(gpu, batch, 'merge_heads', args, { label: 'y', buffer: args.y }, { o: args.o }, false);
}

/** The backward of mergeHeads: dy [B, T, H·D] → dO [B, H, T, D]. */
export async function splitHeads(
  gpu: Gpu,
  batch: Batch,
  args: HeadShape & { dy: BufferRef; dO: BufferRef },
): Promise<void> {
  await permute(gpu, batch, 'split_heads', args, { label: 'dy', buffer: args.dy }, { dO: args.dO }, true);
}
