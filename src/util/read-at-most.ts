// Reading an HTTP response from a party that may be broken or hostile: never more than a named number
// of bytes, whatever its content-length says (or does not say), and never for longer than those bytes
// take at a slow but honest rate: a server that trickles a byte now and then is cut off.
import { type Clock, systemClock, timeoutSignal } from './clock';

/** Time for the response's headers to arrive; the body's time comes on top (readDeadlineMs). */
export const READ_HEADERS_MS = 10_000;
/** Slowest rate a bounded read is allowed: 1 Mbit/s (a 64 MiB token file gets 8.7 minutes). */
export const MIN_READ_BYTES_PER_S = 128 * 1024;

/** How long a read of at most `max` bytes may take, from the request to the body's last byte. */
export const readDeadlineMs = (max: number): number => READ_HEADERS_MS + Math.ceil((1000 * max) / MIN_READ_BYTES_PER_S);

/** A body over its bound: the caller says what that means for it (a refused round, a hidden option). */
export class OverBoundError extends Error {
  override name = 'OverBoundError';
}

export interface ReadOptions {
  signal?: AbortSignal;
  /** Time of the read's deadline (tests pass a manual one). */
  clock?: Clock;
}

/** A response's body, or undefined (and the rest left unread) when it is over `max` bytes. */
async function readAtMost(res: Response, max: number): Promise<Uint8Array | undefined> {
  if (Number(res.headers.get('content-length')) > max) {
    await res.body?.cancel();
    return undefined;
  }
  const reader = res.body?.getReader();
  if (!reader) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    length += r.value.length;
    if (length > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(r.value);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/**
 * GET `url` and read its body, at most `max` bytes within readDeadlineMs(max); undefined on a 404 when
 * `absentIsNone`. Throws, naming the URL, on another error status, an OverBoundError on a larger body,
 * and on a read past its deadline.
 */
async function boundedGet(
  url: string | URL,
  max: number,
  { signal, clock = systemClock }: ReadOptions,
  absentIsNone: boolean,
): Promise<Uint8Array | undefined> {
  const ms = readDeadlineMs(max);
  const deadline = timeoutSignal(clock, ms);
  try {
    const res = await fetch(url, { signal: signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal });
    if (!res.ok) {
      await res.body?.cancel();
      if (res.status === 404 && absentIsNone) return undefined;
      throw new Error(`${url} answered ${res.status}`);
    }
    const body = await readAtMost(res, max);
    if (!body) throw new OverBoundError(`${url} is over the bound of ${max} bytes`);
    return body;
  } catch (e) {
    if (deadline.signal.aborted && !signal?.aborted) throw new Error(`${url} took over ${ms} ms to read`);
    throw e;
  } finally {
    deadline.clear();
  }
}

const json = (body: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(body));

/** GET `url`'s body, at most `max` bytes (boundedGet). */
export async function fetchAtMost(url: string | URL, max: number, opts: ReadOptions = {}): Promise<Uint8Array> {
  return (await boundedGet(url, max, opts, false))!;
}

/** GET `url` as JSON, at most `max` bytes (fetchAtMost). */
export async function fetchJsonAtMost(url: string | URL, max: number, opts: ReadOptions = {}): Promise<unknown> {
  return json(await fetchAtMost(url, max, opts));
}

/** As fetchJsonAtMost, but undefined where the server has no such document (404). */
export async function fetchJsonAtMostIfAny(url: string | URL, max: number, opts: ReadOptions = {}): Promise<unknown> {
  const body = await boundedGet(url, max, opts, true);
  return body === undefined ? undefined : json(body);
}
