// Token files travel as uint16 little-endian (vocabularies up to 65536).
export const toU16Bytes = (tokens: Uint32Array): Uint8Array => new Uint8Array(Uint16Array.from(tokens).buffer);
export const fromU16Bytes = (bytes: Uint8Array): Uint32Array =>
  Uint32Array.from(new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
