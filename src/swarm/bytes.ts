// Byte helpers shared by the seed (Node) and the tab: hex, base64, sha256 through WebCrypto.

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Throws on anything that is not base64. */
export function fromBase64(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new Error('not base64');
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** sha256 as lowercase hex. WebCrypto is there in Node 20+ and in any secure browser context. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return toHex(new Uint8Array(digest));
}

export const isSha256Hex = (s: unknown): s is string => typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const fromUtf8 = (b: Uint8Array): string => new TextDecoder('utf-8', { fatal: true }).decode(b);

/**
 * Decodes a small JSON message of at most `maxBytes`, as an object's fields; any failure (too big,
 * not UTF-8, not JSON, not an object) throws `fail(reason)`'s error. For every message off the wire.
 */
export function decodeJsonMessage(
  bytes: Uint8Array,
  maxBytes: number,
  what: string,
  fail: (reason: string) => Error,
): Record<string, unknown> {
  if (bytes.length > maxBytes) throw fail(`${what} is ${bytes.length} bytes, over ${maxBytes}`);
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(bytes));
  } catch {
    throw fail(`${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}
