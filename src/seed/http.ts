// The seed's HTTP server: the built volunteer app (static files), a few JSON documents, binary
// files from memory (the run's token files, the weight pieces), and replies that stay open (the
// dashboard's event stream, whose owner caps them). Open to strangers, so it works to the budgets
// in ./limits.ts: every body is streamed with backpressure, connections are capped in all and per
// IP, and every phase of a request and its reply has a timeout. With a certificate it serves https
// (browsers give WebGPU only to pages in a secure context).

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { type FileHandle, open, readFile } from 'node:fs/promises';
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HTTP_LIMITS, type HttpLimits } from './limits';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
  '.jsonl': 'application/jsonl',
};

/** Hashed build assets and weight pieces never change; the page and the token files are revalidated. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** JSON routes: path to a function giving the current document. */
/** JSON documents by path; one that returns undefined does not exist now (404, readable cross-origin like the rest). */
export type JsonRoutes = Record<string, () => unknown>;
export interface MemoryFile {
  body: Uint8Array;
  type: string;
}
/** Fixed binary files served from memory (the run's token files). */
export type MemoryFiles = Record<string, MemoryFile>;
/**
 * Replies that stay open (the dashboard's event stream): path to a function that opens one for the
 * client at an IP address, or refuses it (undefined: too many open, answered 429).
 */
export type StreamRoutes = Record<string, (address: string) => { type: string; body: Readable } | undefined>;
/**
 * Immutable binary files from memory under a path prefix, looked up per request (the weight
 * pieces): the rest of the path to the file, or undefined for 404.
 */
export type FileLookups = Record<string, (rest: string) => Promise<MemoryFile | undefined>>;

/** PEM files: the certificate (its chain after it, as Let's Encrypt's fullchain.pem) and its private key. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** The contents of TlsFiles, checked: a certificate and the private key that matches it. */
export interface TlsCredentials {
  cert: string;
  key: string;
  /** The DNS names the certificate is for (wildcards left out). */
  hostNames: string[];
}

/**
 * Reads and checks the certificate and key, before anything listens: an error names the file that
 * cannot be read, is not PEM, or does not go with the other.
 */
export async function readTlsFiles({ certFile, keyFile }: TlsFiles): Promise<TlsCredentials> {
  const cert = await readPem(certFile, 'certificate');
  const key = await readPem(keyFile, 'private key');
  const parse = <T>(parser: () => T, file: string, what: string): T => {
    try {
      return parser();
    } catch (e) {
      throw new Error(`${file} is not a valid PEM ${what}: ${(e as Error).message}`);
    }
  };
  const certificate = parse(() => new X509Certificate(cert), certFile, 'certificate');
  const privateKey = parse(() => createPrivateKey(key), keyFile, 'private key');
  if (!certificate.checkPrivateKey(privateKey))
    throw new Error(`the private key in ${keyFile} is not the key of the certificate in ${certFile}`);
  const names = (certificate.subjectAltName ?? '').split(', ');
  const hostNames = names.filter((n) => n.startsWith('DNS:') && !n.includes('*')).map((n) => n.slice('DNS:'.length));
  return { cert, key, hostNames };
}

/** A PEM file's text, which holds a `what` block (a key's may name its kind: BEGIN EC PRIVATE KEY). */
async function readPem(file: string, what: 'certificate' | 'private key'): Promise<string> {
  const text = await readFile(file, 'utf8').catch((e: Error) => {
    throw new Error(`cannot read the TLS ${what} ${file}: ${e.message}`);
  });
  const label = what.toUpperCase();
  if (!new RegExp(`-----BEGIN ([A-Z0-9]+ )?${label}-----`).test(text))
    throw new Error(`${file} is not a PEM ${what} (no -----BEGIN ${label}----- line)`);
  return text;
}

export interface HttpServerOptions {
  /** Address to bind. */
  host: string;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** The built volunteer app, served at /. */
  appDir: string;
  routes: JsonRoutes;
  /** Documents made per request, in a type of their own (the Prometheus metrics). */
  generated?: Record<string, () => Promise<MemoryFile>>;
  files?: MemoryFiles;
  /** Path prefix to lookup, e.g. /weights/ for the weight pieces. */
  lookups?: FileLookups;
  /** URL prefix to folder, e.g. /ort/ for onnxruntime-web's wasm files. */
  mounts?: Record<string, string>;
  /** Path to one file on disk, public and read as it is now (the receipts ledger). */
  diskFiles?: Record<string, string>;
  streams?: StreamRoutes;
  /** Called with every socket the server admits (the seed counts what each one sends). */
  onSocket?: (socket: Socket) => void;
  /** Over HTTP_LIMITS (tests shorten the timeouts). */
  limits?: Partial<HttpLimits>;
  /** Where a route or a file that fails is reported. */
  log?: (line: string) => void;
  /** Serve https with this certificate and key; http without. */
  tls?: Pick<TlsCredentials, 'cert' | 'key'>;
}

export interface HttpServer {
  /** The page's URL. */
  url: string;
  /** Closes open connections too: a tab's keep-alive must not hold the port. */
  stop(): Promise<void>;
}

/** Listens; rejects (holding no port) when the port is taken. */
export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const limits = { ...HTTP_LIMITS, ...opts.limits };
  const options = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
  };
  const reply = replier(opts, limits.sendChunkBytes, opts.log ?? (() => {}));
  const server = opts.tls
    ? // A handshake that stalls holds a connection as long as headers that stall do. A client that
      // fails its handshake (plain http to this port) is closed by Node: nothing to answer it.
      createHttpsServer({ ...options, ...opts.tls, handshakeTimeout: limits.headersTimeoutMs }, reply)
    : createServer(options, reply);
  // Node closes a socket idle this long (no chunk taken, nothing read) when no 'timeout' listener
  // claims it; a write resets the clock only when the socket takes it, so a stalled reader times out.
  server.timeout = limits.sendIdleTimeoutMs;
  admitConnections(server, limits, opts.onSocket);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}/`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Closes, as they are accepted, the connections past the cap in all (Node drops them before they
 * reach 'connection') and past the cap of their IP address; gives the others to `onSocket`.
 */
function admitConnections(server: Server | HttpsServer, limits: HttpLimits, onSocket?: (socket: Socket) => void): void {
  server.maxConnections = limits.maxConnections;
  const perIp = new Map<string, number>();
  // Before Node's own listener, so a refused socket is closed before it is parsed.
  server.prependListener('connection', (socket: Socket) => {
    const ip = socket.remoteAddress;
    const open = ip === undefined ? limits.maxConnectionsPerIp : (perIp.get(ip) ?? 0);
    if (ip === undefined || open >= limits.maxConnectionsPerIp) {
      socket.destroy();
      return;
    }
    perIp.set(ip, open + 1);
    socket.once('close', () => {
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left > 0) perIp.set(ip, left);
      else perIp.delete(ip);
    });
    onSocket?.(socket);
  });
}

/** A reply, ready before its head is written: the status, the headers and the body to stream. */
interface Reply {
  status: number;
  headers: OutgoingHttpHeaders;
  /** The body, not yet read: a file stream holds its file open until it ends or is destroyed. */
  body: Readable;
}

/**
 * Serves `routes` and the files from memory (with CORS open: these documents are public, and a page
 * served elsewhere may name this seed), the files under `appDir` and under each mounted folder.
 * Only GET and HEAD; nothing outside those folders. The reply is made whole (a document computed,
 * a file opened) before its head is written: a route or lookup that throws gives a 500, and an
 * error after the head went out closes that one connection.
 */
function replier(
  {
    appDir,
    routes,
    generated = {},
    files = {},
    lookups = {},
    mounts = {},
    diskFiles = {},
    streams = {},
  }: HttpServerOptions,
  chunkBytes: number,
  log: (line: string) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  // Mounted folders first, the app last.
  const folders: [string, string][] = [...Object.entries(mounts), ['/', appDir]];
  const roots = folders.map(([prefix, dir]) => [prefix, resolve(dir)] as const);
  const bytes = (status: number, headers: OutgoingHttpHeaders, body: Uint8Array): Reply => ({
    status,
    headers: { ...headers, 'content-length': body.length },
    body: Readable.from(chunks(body, chunkBytes)),
  });
  const text = (status: number, body: string, headers: OutgoingHttpHeaders = {}): Reply =>
    bytes(status, { 'content-type': 'text/plain', ...headers }, Buffer.from(body));
  const memoryFile = (file: MemoryFile, cache: string): Reply =>
    bytes(200, { 'content-type': file.type, 'access-control-allow-origin': '*', 'cache-control': cache }, file.body);

  const replyTo = async (req: IncomingMessage): Promise<Reply> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'method not allowed', { allow: 'GET, HEAD' });
    const path = pathname(req.url ?? '/');
    if (path === undefined) return text(400, 'bad request');
    const route = routes[path];
    if (route) {
      const value = route();
      const cors = { 'access-control-allow-origin': '*' };
      if (value === undefined) return text(404, 'not found', cors);
      const headers = { 'content-type': 'application/json', ...cors };
      return bytes(200, { ...headers, 'cache-control': 'no-store' }, Buffer.from(JSON.stringify(value)));
    }
    const openStream = streams[path];
    if (openStream) {
      const stream = openStream(req.socket.remoteAddress ?? '');
      if (!stream) return text(429, 'too many streams open; try again later');
      return { status: 200, headers: { 'content-type': stream.type, 'cache-control': 'no-store' }, body: stream.body };
    }
    const make = generated[path];
    if (make) return memoryFile(await make(), 'no-store');
    if (files[path]) return memoryFile(files[path], 'no-cache');
    if (diskFiles[path])
      return diskFile(diskFiles[path], { 'access-control-allow-origin': '*', 'cache-control': 'no-cache' });
    const lookup = Object.entries(lookups).find(([prefix]) => path.startsWith(prefix));
    if (lookup) {
      const [prefix, find] = lookup;
      const file = await find(path.slice(prefix.length));
      return file ? memoryFile(file, IMMUTABLE) : text(404, 'not found');
    }
    const [prefix, root] = roots.find(([p]) => path.startsWith(p))!;
    const name = decoded(path === '/' ? '/index.html' : `/${path.slice(prefix.length)}`);
    if (name === undefined) return text(400, 'bad request: malformed percent-escape');
    const file = normalize(join(root, name));
    if (file !== root && !file.startsWith(root + sep)) return text(403, 'forbidden');
    return diskFile(file, { 'cache-control': path.startsWith('/assets/') ? IMMUTABLE : 'no-cache' });
  };

  /** A file from disk, streamed; its length is what it holds when opened. */
  const diskFile = async (file: string, headers: OutgoingHttpHeaders): Promise<Reply> => {
    const handle = await open(file).catch(() => undefined);
    const info = await handle?.stat().catch(() => undefined);
    if (!handle || !info?.isFile()) {
      await handle?.close();
      return text(404, 'not found');
    }
    return {
      status: 200,
      headers: {
        'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
        ...headers,
        'content-length': info.size,
      },
      body: fileBody(handle, info.size, chunkBytes),
    };
  };

  return (req, res) => {
    const what = `${req.method} ${JSON.stringify(req.url?.slice(0, 200))}`;
    void replyTo(req)
      .catch((e: Error) => {
        log(`http: ${what} failed: ${e.message}`);
        return text(500, 'internal error');
      })
      .then((reply) => send(req, res, reply))
      .catch((e: NodeJS.ErrnoException) => {
        if (!CLIENT_GONE.has(e.code ?? '')) log(`http: ${what} stopped: ${e.message}`);
      });
  };
}

/**
 * Writes the head, then the body as the socket takes it. On an error (the client gone, a file that
 * shrank under its head) it closes this one connection and rethrows.
 */
async function send(req: IncomingMessage, res: ServerResponse, { status, headers, body }: Reply): Promise<void> {
  try {
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      body.destroy();
      res.end();
    } else await pipeline(body, res);
  } catch (e) {
    body.destroy();
    res.destroy();
    throw e;
  }
}

/**
 * A file's first `size` bytes (the length its head announced) in chunks, each read when the response
 * took the one before; an error if the file ends short of it. The file closes when the stream does.
 */
function fileBody(handle: FileHandle, size: number, chunkBytes: number): Readable {
  async function* read(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < size; ) {
      const { bytesRead, buffer } = await handle.read(
        Buffer.allocUnsafe(Math.min(chunkBytes, size - at)),
        0,
        undefined,
        at,
      );
      if (bytesRead === 0) throw new Error(`the file ended at ${at} of the ${size} bytes announced`);
      yield buffer.subarray(0, bytesRead);
      at += bytesRead;
    }
  }
  const body = Readable.from(read(), { highWaterMark: 1 }); // one chunk read ahead
  // A file only read loses nothing if its close fails.
  body.once('close', () => handle.close().catch(() => {}));
  return body;
}

/** Errors of a client that left, or was cut off for not reading: no news. */
const CLIENT_GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'ECONNRESET', 'EPIPE']);

/** Views of `body`, each at most `size` bytes (no copies). */
function* chunks(body: Uint8Array, size: number): Generator<Uint8Array> {
  for (let at = 0; at < body.length; at += size) yield body.subarray(at, at + size);
}

/** The path of a request's URL, or undefined when it does not parse. */
function pathname(url: string): string | undefined {
  return URL.canParse(url, 'http://seed') ? new URL(url, 'http://seed').pathname : undefined;
}

/** The percent-decoded path, or undefined for a malformed escape. */
function decoded(path: string): string | undefined {
  try {
    return decodeURIComponent(path);
  } catch {
    return undefined;
  }
}
