// Reading an HTTP response from a party that may be broken or hostile: never more than a named number
// of bytes, whatever its content-length says (or does not say).

/** A response's body, or undefined (and the rest left unread) when it is over `max` bytes. */
export async function readAtMost(res: Response, max: number): Promise<Uint8Array | undefined> {
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

/** GET `url`'s body, at most `max` bytes; throws, naming the URL, on an error status or a larger body. */
export async function fetchAtMost(url: string | URL, max: number, signal?: AbortSignal): Promise<Uint8Array> {
  const res = await fetch(url, { signal });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`${url} answered ${res.status}`);
  }
  const body = await readAtMost(res, max);
  if (!body) throw new Error(`${url} is over the bound of ${max} bytes`);
  return body;
}

/** GET `url` as JSON, at most `max` bytes (fetchAtMost). */
export async function fetchJsonAtMost(url: string | URL, max: number, signal?: AbortSignal): Promise<unknown> {
  return JSON.parse(new TextDecoder().decode(await fetchAtMost(url, max, signal)));
}
