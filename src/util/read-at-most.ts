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

/** `res`'s body, at most `max` bytes; throws, naming the URL, on an error status or a larger body. */
async function checkedBody(url: string | URL, res: Response, max: number): Promise<Uint8Array> {
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`${url} answered ${res.status}`);
  }
  const body = await readAtMost(res, max);
  if (!body) throw new Error(`${url} is over the bound of ${max} bytes`);
  return body;
}

const json = (body: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(body));

/** GET `url`'s body, at most `max` bytes; throws, naming the URL, on an error status or a larger body. */
export async function fetchAtMost(url: string | URL, max: number, signal?: AbortSignal): Promise<Uint8Array> {
  return checkedBody(url, await fetch(url, { signal }), max);
}

/** GET `url` as JSON, at most `max` bytes (fetchAtMost). */
export async function fetchJsonAtMost(url: string | URL, max: number, signal?: AbortSignal): Promise<unknown> {
  return json(await fetchAtMost(url, max, signal));
}

/** As fetchJsonAtMost, but undefined where the server has no such document (404). */
export async function fetchJsonAtMostIfAny(url: string | URL, max: number, signal?: AbortSignal): Promise<unknown> {
  const res = await fetch(url, { signal });
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  return json(await checkedBody(url, res, max));
}
