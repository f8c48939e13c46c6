// The seed's HTTP server: the built volunteer app (static files), a few JSON documents, and binary
// files from memory (the run's token files, the weight pieces).

import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';

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
};

/** JSON routes: path to a function giving the current document. */
export type JsonRoutes = Record<string, () => unknown>;
export interface MemoryFile {
  body: Uint8Array;
  type: string;
}
/** Fixed binary files served from memory (the run's token files). */
export type MemoryFiles = Record<string, MemoryFile>;
/**
 * Immutable binary files from memory under a path prefix, looked up per request (the weight
 * pieces): the rest of the path to the file, or undefined for 404.
 */
export type FileLookups = Record<string, (rest: string) => Promise<MemoryFile | undefined>>;

export interface HttpServerOptions {
  /** Address to bind. */
  host: string;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** The built volunteer app, served at /. */
  appDir: string;
  routes: JsonRoutes;
  files?: MemoryFiles;
  /** Path prefix to lookup, e.g. /weights/ for the weight pieces. */
  lookups?: FileLookups;
  /** URL prefix to folder, e.g. /ort/ for onnxruntime-web's wasm files. */
  mounts?: Record<string, string>;
  /** Called with every socket the server accepts (the seed counts what each one sends). */
  onSocket?: (socket: Socket) => void;
}

export interface HttpServer {
  /** The page's URL. */
  url: string;
  /** Closes open connections too: a tab's keep-alive must not hold the port. */
  stop(): Promise<void>;
}

/** Listens; rejects (holding no port) when the port is taken. */
export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const server = createHttpServer(opts);
  if (opts.onSocket) server.on('connection', opts.onSocket);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  return {
    url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}/`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Serves `routes` and the files from memory (with CORS open: these documents are public, and a page
 * served elsewhere may name this seed), the files under `appDir` and under each mounted folder.
 * Only GET and HEAD; nothing outside those folders.
 */
function createHttpServer({ appDir, routes, files = {}, lookups = {}, mounts = {} }: HttpServerOptions): Server {
  // Mounted folders first, the app last.
  const folders: [string, string][] = [...Object.entries(mounts), ['/', appDir]];
  const roots = folders.map(([prefix, dir]) => [prefix, resolve(dir)] as const);
  return createServer(async (req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      const path = new URL(req.url ?? '/', 'http://seed').pathname;
      const route = routes[path];
      if (route) {
        res.writeHead(200, {
          'content-type': 'application/json',
          'access-control-allow-origin': '*',
          'cache-control': 'no-store',
        });
        res.end(req.method === 'HEAD' ? undefined : JSON.stringify(route()));
        return;
      }
      const memory = files[path];
      if (memory) {
        sendMemoryFile(req, res, memory, 'no-cache');
        return;
      }
      const lookup = Object.entries(lookups).find(([prefix]) => path.startsWith(prefix));
      if (lookup) {
        const [prefix, find] = lookup;
        const file = await find(path.slice(prefix.length));
        if (file) sendMemoryFile(req, res, file, 'public, max-age=31536000, immutable');
        else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      const [prefix, root] = roots.find(([p]) => path.startsWith(p))!;
      const file = normalize(
        join(root, decodeURIComponent(path === '/' ? '/index.html' : `/${path.slice(prefix.length)}`)),
      );
      if (file !== root && !file.startsWith(root + sep)) {
        res.writeHead(403).end('forbidden');
        return;
      }
      const info = await stat(file).catch(() => undefined);
      if (!info?.isFile()) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      const body = await readFile(file);
      // Hashed build assets never change; the page itself must be revalidated.
      const cache = path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
      res.writeHead(200, {
        'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': cache,
        'content-length': body.length,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (e) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad request: ${(e as Error).message}`);
    }
  });
}

/** A file from memory, public (CORS open, like the documents). */
function sendMemoryFile(req: IncomingMessage, res: ServerResponse, file: MemoryFile, cache: string): void {
  res.writeHead(200, {
    'content-type': file.type,
    'access-control-allow-origin': '*',
    'cache-control': cache,
    'content-length': file.body.length,
  });
  res.end(req.method === 'HEAD' ? undefined : file.body);
}
