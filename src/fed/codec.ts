// Update codec: what a volunteer sends back after a round. A pseudo-gradient is a flat Float32Array
// of the model's parameter-vector length (up to ~10M floats); int8 quantisation cuts it 4×, int4 8×
// and int2 16×, block top-k cuts it further, and error feedback carries what the codec dropped into
// the next round (SparseLoCo's recipe: top-k, 2-bit values, error feedback).
//
// Wire format (little-endian; every section starts 4-byte aligned, and nothing follows the values):
//
//   offset  size  field
//   0       3     magic, ASCII "VFU" (vgpu federated update)
//   3       1     version = 1
//   4       1     format: 1 = int8, 2 = fp32, 3 = int4, 4 = int2
//   5       3     reserved, zero
//   8       4     length: floats in the vector (u32)
//   12      4     blockSize: floats per block, 1..65536 (u32); the last block may be short
//   16      4     kept: number of blocks sent (u32), ≤ nBlocks = ceil(length / blockSize)
//   20      4·kept   indices: the kept blocks, strictly increasing u32 — present only when kept < nBlocks
//   …       4·kept   scales: one f32 per kept block, finite and ≥ 0 — quantised formats only
//   …       values: the kept blocks' elements in index order: f32 (fp32), or n-bit two's complement
//           integers q packed from the low bits of each byte up (int8: one a byte), with |q| ≤
//           2^(n−1) − 1 (the most negative code is refused) and zero bits after the last
//
// An element decodes as q · its block's scale. Blocks that are not sent decode as zeros. int8 and
// int4 round x / scale with scale = max|x| / qmax; int2 is ternary (q in {−1, 0, 1}) with the
// threshold and scale of Ternary Weight Networks (Li et al., 2016): elements above 0.7 · mean|x| in
// magnitude send their sign, and the scale is their mean magnitude. fp32 with density < 1 is
// supported (kept blocks sent as raw f32), so benchmarks can separate what sparsification and
// quantisation each cost.

/** Floats per block unless the caller says otherwise: small enough that one outlier spoils few values. */
export const DEFAULT_BLOCK_SIZE = 256;
export const MAX_BLOCK_SIZE = 65536;
export const UPDATE_FORMAT_VERSION = 1;

const MAGIC = [0x56, 0x46, 0x55] as const; // "VFU"
const HEADER_BYTES = 20;
/**
 * Each format: its code on the wire, its bits per value, and how it rounds an element: 'exact'
 * (fp32), 'step' (to the nearest multiple of its block's max|x| / quantMax: int8, int4) or 'ternary'
 * (int2: no step bounds the error, an element may be off by its block's largest magnitude).
 */
const FORMATS = {
  int8: { code: 1, bits: 8, rounding: 'step' },
  fp32: { code: 2, bits: 32, rounding: 'exact' },
  int4: { code: 3, bits: 4, rounding: 'step' },
  int2: { code: 4, bits: 2, rounding: 'ternary' },
} as const;
/** Ternary Weight Networks' threshold, in units of the block's mean magnitude. */
const TERNARY_THRESHOLD = 0.7;
/** The wire is little-endian; on such a host (every browser we target) f32 sections copy as typed arrays. */
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export type UpdateFormat = keyof typeof FORMATS;
export const UPDATE_FORMATS = Object.keys(FORMATS) as UpdateFormat[];
type Rounding = (typeof FORMATS)[UpdateFormat]['rounding'];

/** How `format` rounds an element (see FORMATS). */
export function roundingOf(format: UpdateFormat): Rounding {
  return FORMATS[format].rounding;
}

/** Whether `format` sends integers and a scale per block (every format but fp32). */
function isQuantised(format: UpdateFormat): boolean {
  return roundingOf(format) !== 'exact';
}

/** The largest integer a quantised format sends: 127, 7 or 1. */
export function quantMax(format: UpdateFormat): number {
  return 2 ** (FORMATS[format].bits - 1) - 1;
}

export interface EncodeOptions {
  format: UpdateFormat;
  /** Floats per block (default 256), 1..65536. */
  blockSize?: number;
  /** Fraction of blocks kept, in (0, 1] (default 1): the ceil(density·nBlocks) blocks of largest L2 norm. */
  density?: number;
}

/** A received update that does not parse. Every message names what is wrong. */
export class UpdateFormatError extends Error {
  override name = 'UpdateFormatError';
}

const blockCount = (length: number, blockSize: number): number => Math.ceil(length / blockSize);

function checkOptions(length: number, opts: EncodeOptions): { blockSize: number; density: number } {
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  const density = opts.density ?? 1;
  if (!Object.hasOwn(FORMATS, opts.format)) throw new RangeError(`unknown update format ${String(opts.format)}`);
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > MAX_BLOCK_SIZE) {
    throw new RangeError(`blockSize must be an integer in [1, ${MAX_BLOCK_SIZE}], got ${blockSize}`);
  }
  if (!(density > 0 && density <= 1)) throw new RangeError(`density must be in (0, 1], got ${density}`);
  if (!Number.isInteger(length) || length < 0 || length > 0xffffffff)
    throw new RangeError(`vector length ${length} does not fit a u32`);
  return { blockSize, density };
}

/** Blocks kept at this density. The epsilon keeps e.g. 0.07·100 (= 7.000000000000001) at 7. */
function keptCount(nBlocks: number, density: number): number {
  return density >= 1 ? nBlocks : Math.min(nBlocks, Math.ceil(density * nBlocks - 1e-9));
}

/**
 * Encoded size in bytes of a `length`-float vector under `opts`. Exact when every block is kept or
 * `blockSize` divides `length`; otherwise an upper bound, as the short last block (counted full here)
 * is sent only when its norm ranks it among the kept.
 */
export function encodedSize(length: number, opts: EncodeOptions): number {
  const { blockSize, density } = checkOptions(length, opts);
  const nBlocks = blockCount(length, blockSize);
  const kept = keptCount(nBlocks, density);
  const values = kept === nBlocks ? length : kept * blockSize;
  return sectionsSize(opts.format, kept, nBlocks, values);
}

function sectionsSize(format: UpdateFormat, kept: number, nBlocks: number, values: number): number {
  const indices = kept < nBlocks ? 4 * kept : 0;
  const scales = isQuantised(format) ? 4 * kept : 0;
  return HEADER_BYTES + indices + scales + Math.ceil((values * FORMATS[format].bits) / 8);
}

/** Bytes of the same vector sent dense in fp32, without any header: the baseline we compress against. */
export function denseFp32Bytes(length: number): number {
  return 4 * length;
}

/** Indices (ascending) of the `kept` blocks of largest L2 norm, ties going to the lower index. */
function topBlocks(vector: Float32Array, blockSize: number, nBlocks: number, kept: number): Uint32Array {
  const all = new Uint32Array(nBlocks);
  if (kept === nBlocks) {
    for (let b = 0; b < nBlocks; b++) all[b] = b;
    return all;
  }
  const norms = new Float64Array(nBlocks);
  for (let b = 0; b < nBlocks; b++) {
    const end = Math.min((b + 1) * blockSize, vector.length);
    let s = 0;
    for (let i = b * blockSize; i < end; i++) s += vector[i]! * vector[i]!;
    norms[b] = s; // squared norm orders blocks the same way
    all[b] = b;
  }
  const order = Array.from(all).sort((a, b) => norms[b]! - norms[a]! || a - b);
  return Uint32Array.from(order.slice(0, kept)).sort();
}

function assertFinite(vector: Float32Array): void {
  for (let i = 0; i < vector.length; i++) {
    if (!Number.isFinite(vector[i])) throw new RangeError(`update has a non-finite value at index ${i}`);
  }
}

/** Encodes `vector` as described at the top of this file. Throws RangeError on bad options or a non-finite value. */
export function encodeUpdate(vector: Float32Array, opts: EncodeOptions): Uint8Array {
  const length = vector.length;
  const { blockSize, density } = checkOptions(length, opts);
  assertFinite(vector);
  const nBlocks = blockCount(length, blockSize);
  const kept = keptCount(nBlocks, density);
  const blocks = topBlocks(vector, blockSize, nBlocks, kept);
  let values = 0;
  for (const b of blocks) values += Math.min(blockSize, length - b * blockSize);

  const quantised = isQuantised(opts.format);
  const bytes = new Uint8Array(sectionsSize(opts.format, kept, nBlocks, values));
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  bytes[3] = UPDATE_FORMAT_VERSION;
  bytes[4] = FORMATS[opts.format].code;
  view.setUint32(8, length, true);
  view.setUint32(12, blockSize, true);
  view.setUint32(16, kept, true);
  let offset = HEADER_BYTES;
  if (kept < nBlocks) {
    for (const b of blocks) {
      view.setUint32(offset, b, true);
      offset += 4;
    }
  }

  if (!quantised) {
    for (const b of blocks) {
      const start = b * blockSize;
      const end = Math.min(start + blockSize, length);
      if (LITTLE_ENDIAN_HOST) {
        new Float32Array(bytes.buffer, offset, end - start).set(vector.subarray(start, end)); // offset is 4-aligned in a fresh buffer
        offset += 4 * (end - start);
      } else {
        for (let i = start; i < end; i++, offset += 4) view.setFloat32(offset, vector[i]!, true);
      }
    }
    return bytes;
  }

  const scalesAt = offset;
  const packed = packer(bytes.subarray(scalesAt + 4 * kept), FORMATS[opts.format].bits);
  const quantise = roundingOf(opts.format) === 'ternary' ? ternary : rounded(quantMax(opts.format));
  for (let k = 0; k < kept; k++) {
    const start = blocks[k]! * blockSize;
    const end = Math.min(start + blockSize, length);
    view.setFloat32(scalesAt + 4 * k, quantise(vector.subarray(start, end), packed.put), true);
  }
  return bytes;
}

/**
 * Writes a block's integers (through `put`) and returns its scale, as stored: an f32, which the
 * integers are computed against. A zero scale (an all-zero block, or one so tiny its scale
 * underflows) sends zeros.
 */
type Quantiser = (block: Float32Array, put: (q: number) => void) => number;

/** Round to nearest against scale = max|x| / qmax (int8, int4). */
function rounded(qmax: number): Quantiser {
  return (block, put) => {
    let maxAbs = 0;
    for (const x of block) maxAbs = Math.max(maxAbs, Math.abs(x));
    const scale = Math.fround(maxAbs / qmax);
    for (const x of block) put(scale === 0 ? 0 : Math.max(-qmax, Math.min(qmax, Math.round(x / scale))));
    return scale;
  };
}

/** Ternary (int2): the sign of the elements above the TWN threshold, scaled by their mean magnitude. */
const ternary: Quantiser = (block, put) => {
  let sum = 0;
  for (const x of block) sum += Math.abs(x);
  const threshold = (TERNARY_THRESHOLD * sum) / block.length;
  let above = 0;
  let count = 0;
  for (const x of block) {
    if (Math.abs(x) > threshold) {
      above += Math.abs(x);
      count++;
    }
  }
  const scale = count === 0 ? 0 : Math.fround(above / count);
  for (const x of block) put(scale === 0 || Math.abs(x) <= threshold ? 0 : Math.sign(x));
  return scale;
};

/** Packs `bits`-bit two's complement integers into `out`, low bits of each byte first. */
function packer(out: Uint8Array, bits: number) {
  const mask = (1 << bits) - 1;
  let bit = 0;
  return {
    put(q: number) {
      out[bit >> 3]! |= (q & mask) << (bit & 7);
      bit += bits;
    },
  };
}

/** Reads what packer() wrote: the `v`-th integer of `bits` bits. */
function unpack(bytes: Uint8Array, bits: number, v: number): number {
  const bit = v * bits;
  const raw = (bytes[bit >> 3]! >> (bit & 7)) & ((1 << bits) - 1);
  return raw >= 1 << (bits - 1) ? raw - (1 << bits) : raw;
}

/**
 * Decodes and validates an update that must hold `expectedLength` floats. Throws UpdateFormatError
 * on anything malformed; reads only inside `bytes` (which may be a view into a larger buffer).
 * fp32 values are not checked for finiteness here: `validateUpdate` does that for every format.
 * With `codec` (the round's), an update in another format or block size, or with more blocks than
 * the round's density keeps, is refused too: a dense fp32 update in an int8 round carries 4× the
 * bytes and a precision the round did not ask for.
 */
export function decodeUpdate(bytes: Uint8Array, expectedLength: number, codec?: EncodeOptions): Float32Array {
  const fail = (why: string) => new UpdateFormatError(`bad update: ${why}`);
  if (bytes.length < HEADER_BYTES) throw fail(`${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  if (bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1] || bytes[2] !== MAGIC[2])
    throw fail('wrong magic (not a VFU update)');
  if (bytes[3] !== UPDATE_FORMAT_VERSION)
    throw fail(`unsupported version ${bytes[3]} (expected ${UPDATE_FORMAT_VERSION})`);
  const format = UPDATE_FORMATS.find((f) => FORMATS[f].code === bytes[4]);
  if (format === undefined) throw fail(`unknown format ${bytes[4]}`);
  if (bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw fail('reserved header bytes are not zero');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(8, true);
  const blockSize = view.getUint32(12, true);
  const kept = view.getUint32(16, true);
  if (length !== expectedLength) throw fail(`length ${length}, expected ${expectedLength}`);
  if (blockSize === 0 || blockSize > MAX_BLOCK_SIZE)
    throw fail(`blockSize ${blockSize} outside [1, ${MAX_BLOCK_SIZE}]`);
  const nBlocks = blockCount(length, blockSize);
  if (kept > nBlocks) throw fail(`kept ${kept} blocks of only ${nBlocks}`);
  if (codec) {
    const want = checkOptions(length, codec);
    if (format !== codec.format) throw fail(`format ${format}, the round asks for ${codec.format}`);
    if (blockSize !== want.blockSize) throw fail(`blockSize ${blockSize}, the round asks for ${want.blockSize}`);
    const allowed = keptCount(nBlocks, want.density);
    if (kept > allowed) throw fail(`${kept} blocks kept, the round's density keeps at most ${allowed}`);
  }

  // Indices first (their presence follows from the header), since the value count depends on them.
  const sparse = kept < nBlocks;
  const blocks = new Uint32Array(kept);
  let offset = HEADER_BYTES;
  if (sparse) {
    if (bytes.length < offset + 4 * kept) throw fail(`${bytes.length} bytes, too short for ${kept} block indices`);
    for (let k = 0; k < kept; k++, offset += 4) {
      const b = view.getUint32(offset, true);
      if (b >= nBlocks) throw fail(`block index ${b} out of range (${nBlocks} blocks)`);
      if (k > 0 && b <= blocks[k - 1]!)
        throw fail(`block indices not strictly increasing at position ${k} (${blocks[k - 1]} then ${b})`);
      blocks[k] = b;
    }
  } else {
    for (let k = 0; k < kept; k++) blocks[k] = k;
  }
  let values = 0;
  for (let k = 0; k < kept; k++) values += Math.min(blockSize, length - blocks[k]! * blockSize);
  const want = sectionsSize(format, kept, nBlocks, values);
  if (bytes.length !== want) throw fail(`${bytes.length} bytes, but the header implies ${want}`);

  const out = new Float32Array(length);
  if (format === 'fp32') {
    // A typed-array view needs 4-byte alignment in the underlying buffer; a frame sliced out of a
    // network message may not have it, so fall back to DataView reads then.
    const aligned = LITTLE_ENDIAN_HOST && (bytes.byteOffset + offset) % 4 === 0;
    const f32 = aligned ? new Float32Array(bytes.buffer, bytes.byteOffset + offset, values) : undefined;
    let v = 0;
    for (let k = 0; k < kept; k++) {
      const start = blocks[k]! * blockSize;
      const end = Math.min(start + blockSize, length);
      if (f32 !== undefined) {
        out.set(f32.subarray(v, v + end - start), start);
        v += end - start;
      } else {
        for (let i = start; i < end; i++, v++) out[i] = view.getFloat32(offset + 4 * v, true);
      }
    }
    return out;
  }

  const scales = new Float32Array(kept);
  for (let k = 0; k < kept; k++, offset += 4) {
    const s = view.getFloat32(offset, true);
    if (!Number.isFinite(s)) throw fail(`non-finite scale ${s} for block ${blocks[k]}`);
    if (s < 0) throw fail(`negative scale ${s} for block ${blocks[k]}`);
    scales[k] = s;
  }
  const bits = FORMATS[format].bits;
  const packed = bytes.subarray(offset);
  // int8 reads its bytes directly: the seed decodes every update, and most rounds are int8.
  const int8 = bits === 8 ? new Int8Array(packed.buffer, packed.byteOffset, values) : undefined;
  const qmax = quantMax(format);
  let v = 0;
  for (let k = 0; k < kept; k++) {
    const start = blocks[k]! * blockSize;
    const end = Math.min(start + blockSize, length);
    const s = scales[k]!;
    for (let i = start; i < end; i++, v++) {
      const x = int8 ? int8[v]! : unpack(packed, bits, v);
      if (x < -qmax) throw fail(`${format} value ${x} at element ${i} (values are in [-${qmax}, ${qmax}])`);
      out[i] = x * s;
    }
  }
  // Nothing follows the values: the last byte's unused bits are zero.
  if ((v * bits) % 8 !== 0 && packed[packed.length - 1]! >> ((v * bits) % 8) !== 0)
    throw fail('bits after the last value are not zero');
  return out;
}

export interface Compressed {
  bytes: Uint8Array;
  /** (update + residual) − decode(bytes): what this round's encoding lost; add it to the next round's update. */
  residual: Float32Array;
}

/**
 * Error feedback: encodes update + residual and returns the new residual. Whatever quantisation or
 * top-k drops is sent in a later round instead of being lost, so the sum of what the seed receives
 * tracks the sum of the true updates to within one residual, rather than drifting by a bias per round.
 */
export function compressWithFeedback(
  update: Float32Array,
  residual: Float32Array | undefined,
  opts: EncodeOptions,
): Compressed {
  if (residual !== undefined && residual.length !== update.length) {
    throw new RangeError(`residual has ${residual.length} floats, update ${update.length}`);
  }
  const corrected = Float32Array.from(update);
  if (residual !== undefined) for (let i = 0; i < corrected.length; i++) corrected[i]! += residual[i]!;
  const bytes = encodeUpdate(corrected, opts);
  const decoded = decodeUpdate(bytes, corrected.length);
  for (let i = 0; i < corrected.length; i++) corrected[i]! -= decoded[i]!;
  return { bytes, residual: corrected };
}
