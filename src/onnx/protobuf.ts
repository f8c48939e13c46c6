/**
 * Just enough of the protobuf wire format to write ONNX models: varints,
 * length-delimited fields and packed repeated numbers. Messages are built as
 * lists of encoded fields and concatenated once.
 */
export type Field = Uint8Array;

const textEncoder = new TextEncoder();

function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const key = (field: number, wireType: 0 | 1 | 2 | 5) => varint((field << 3) | wireType);

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** An int32/int64/enum field (wire type 0). */
export function int(field: number, value: number | bigint): Field {
  return new Uint8Array([...key(field, 0), ...varint(value)]);
}

/** A length-delimited field: bytes, or an embedded message given as its fields. */
export function bytes(field: number, value: Uint8Array | Field[]): Field {
  const body = value instanceof Uint8Array ? value : concat(value);
  return concat([new Uint8Array([...key(field, 2), ...varint(body.length)]), body]);
}

export function string(field: number, value: string): Field {
  return bytes(field, textEncoder.encode(value));
}

/** A 32-bit float field (wire type 5). */
export function float(field: number, value: number): Field {
  const out = new Uint8Array([...key(field, 5), 0, 0, 0, 0]);
  new DataView(out.buffer).setFloat32(out.length - 4, value, true);
  return out;
}

/** A packed repeated int64 field. */
export function packedInts(field: number, values: readonly number[]): Field {
  return bytes(field, new Uint8Array(values.flatMap((v) => varint(v))));
}
