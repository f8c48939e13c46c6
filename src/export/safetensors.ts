// The safetensors format (huggingface/safetensors), written by hand: it is small.
//
//   8 bytes    N, the header's length, unsigned 64-bit little-endian
//   N bytes    JSON: { "__metadata__": { string: string }, name: { dtype, shape, data_offsets } … },
//              padded with spaces so the data starts on an 8-byte boundary
//   the rest   every tensor's raw little-endian bytes, back to back, in header order;
//              data_offsets [begin, end) count from the start of this part

/** One float32 tensor to store. */
export interface SafetensorsTensor {
  name: string;
  shape: readonly number[];
  data: Float32Array;
}

/** The header's key for free-form string metadata; no tensor may take it. */
const METADATA_KEY = '__metadata__';

/** The data part starts on this boundary (as the reference writer pads the header). */
const DATA_ALIGN = 8;

export function encodeSafetensors(tensors: readonly SafetensorsTensor[], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { [METADATA_KEY]: metadata };
  let dataBytes = 0;
  for (const t of tensors) {
    if (t.name in header) throw new Error(`safetensors: tensor name ${t.name} is taken`);
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length)
      throw new Error(`safetensors: ${t.name} has ${t.data.length} floats for shape [${t.shape.join(', ')}]`);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [dataBytes, dataBytes + 4 * size] };
    dataBytes += 4 * size;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = Math.ceil(json.length / DATA_ALIGN) * DATA_ALIGN;
  const out = new Uint8Array(8 + headerBytes + dataBytes);
  const bytes = new DataView(out.buffer);
  bytes.setBigUint64(0, BigInt(headerBytes), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerBytes);
  let at = 8 + headerBytes;
  for (const t of tensors) {
    for (const value of t.data) {
      bytes.setFloat32(at, value, true);
      at += 4;
    }
  }
  return out;
}
