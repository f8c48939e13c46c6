// The seed in-process: its HTTP server (JSON documents, the app, refusals), its run folder,
// restarting on the same folder, and a start that fails halfway. A fresh run folder takes seconds
// (the seed trains the run's tokenizer), so one seed serves the HTTP tests; the tests run in order,
// and the last ones restart and then damage that folder. Every seed is stopped (afterAll, or a
// finally block).
import '../../src/seed'; // first: defines Promise.withResolvers for libp2p on Node 20
import { cp, mkdir, mkdtemp, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { DEFAULT_FED_SETTINGS } from '../../src/fed/coordinator';
import { modelPreset, paramLayout } from '../../src/model';
import { type Seed, type SeedOptions, type SeedStatus, startSeed } from '../../src/seed';
import { verifyManifest } from '../../src/swarm/manifest';
import { parseSeedInfo } from '../../src/swarm/seed-link';
import { MAX_ROUND_BATCH_SIZE } from '../../src/tab/limits';
import { manualClock } from '../harness/manual-clock';

const INDEX_HTML = '<!doctype html><title>volunteer</title>';
const APP_JS = 'console.log("app");';
const SECRET = 'outside the app folder';

/** A temp folder holding app/ (index.html, assets/app.js) and, beside it, a file the server must never serve. */
let dir: string;
let appDir: string;

test.beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vgpu-seed-test-'));
  appDir = join(dir, 'app');
  await mkdir(join(appDir, 'assets'), { recursive: true });
  await writeFile(join(appDir, 'index.html'), INDEX_HTML);
  await writeFile(join(appDir, 'assets', 'app.js'), APP_JS);
  await writeFile(join(dir, 'secret.txt'), SECRET);
});

test.afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let runs = 0;
const newRunDir = () => join(dir, `run-${++runs}`);

/**
 * A short validation context: every seed evaluates the model on the CPU when it starts, which
 * these tests do not look at (at the default context that takes seconds).
 */
const FED = { hyper: { ...DEFAULT_FED_SETTINGS.hyper, context: 16 } };

test.describe.configure({ mode: 'serial' });

/** The shared seed and its run folder. */
let shared: Seed | undefined;
let sharedRunDir: string;

test.beforeAll(async () => {
  sharedRunDir = newRunDir();
  shared = await startSeed({ runDir: sharedRunDir, httpPort: 0, p2pPort: 0, model: 'tiny', appDir, fed: FED });
});

test.afterAll(async () => {
  await shared?.stop();
  shared = undefined;
});

const seed = (): Seed => {
  if (!shared) throw new Error('the shared seed is not running');
  return shared;
};

/** Starts a seed on free ports, runs `fn`, and always stops the seed. */
async function withSeed<T>(
  opts: Partial<SeedOptions> & { runDir: string },
  fn: (seed: Seed) => Promise<T>,
): Promise<T> {
  const s = await startSeed({ httpPort: 0, p2pPort: 0, model: 'tiny', appDir, fed: FED, ...opts });
  try {
    return await fn(s);
  } finally {
    await s.stop();
  }
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request with the path sent exactly as given (node:http does not normalise it, unlike fetch). */
function raw(seed: Seed, path: string, method = 'GET'): Promise<Reply> {
  const url = new URL(seed.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test("/swarm.json parses, names the seed, and carries a manifest that verifies against the seed's peer id", async () => {
  const reply = await raw(seed(), '/swarm.json');
  expect(reply.status).toBe(200);
  expect(reply.headers['content-type']).toBe('application/json');
  expect(reply.headers['access-control-allow-origin']).toBe('*'); // a page served elsewhere may read it
  expect(reply.headers['cache-control']).toBe('no-store');
  const info = parseSeedInfo(JSON.parse(reply.body));
  expect(info.peerId).toBe(seed().peerId);
  expect(info.addrs.length).toBeGreaterThan(0);
  for (const a of info.addrs) expect(a).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/ws/p2p/${seed().peerId}$`));
  expect(info.manifests).toHaveLength(1);
  const m = await verifyManifest(info.manifests[0], info.peerId);
  expect(m.id).toBe(seed().manifest.id);
  expect(m.value.model).toEqual(modelPreset('tiny'));
  expect(m.value.totalBytes).toBe(paramLayout(modelPreset('tiny')).total * 4);
  // Signed by the seed only: another expected signer refuses it.
  await expect(
    verifyManifest(info.manifests[0], '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'),
  ).rejects.toThrow(/signed by .*, expected /);
});

test('/status.json has the documented fields, zero counters on a fresh seed, and HEAD gives no body', async () => {
  const reply = await raw(seed(), '/status.json');
  expect(reply.status).toBe(200);
  expect(reply.headers['content-type']).toBe('application/json');
  const status = JSON.parse(reply.body) as SeedStatus;
  const m = seed().manifest;
  expect(status).toMatchObject({
    peerId: seed().peerId,
    peers: 0,
    relayReservations: 0,
    uploadedBytes: 0,
    piecesServed: 0,
    refusedRequests: 0,
    manifest: { id: m.id, name: m.value.name, totalBytes: m.value.totalBytes, pieces: m.value.pieces.length },
  });
  expect(m.value.pieces.length).toBe(Math.ceil(m.value.totalBytes / m.value.pieceBytes));
  const head = await raw(seed(), '/status.json', 'HEAD');
  expect(head.status).toBe(200);
  expect(head.body).toBe('');
});

test('the app: / is index.html as text/html, assets are served immutable, a missing file is 404, other methods 405', async () => {
  const index = await raw(seed(), '/');
  expect(index.status).toBe(200);
  expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(index.headers['cache-control']).toBe('no-cache'); // the page is revalidated
  expect(index.body).toBe(INDEX_HTML);
  expect((await raw(seed(), '/index.html')).body).toBe(INDEX_HTML);
  const js = await raw(seed(), '/assets/app.js');
  expect([js.status, js.headers['content-type'], js.body]).toEqual([200, 'text/javascript; charset=utf-8', APP_JS]);
  expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  const missing = await raw(seed(), '/assets/x.js');
  expect([missing.status, missing.body]).toEqual([404, 'not found']);
  expect((await raw(seed(), '/assets')).status).toBe(404); // a folder is not a file
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const r = await raw(seed(), '/status.json', method);
    expect(r.status, method).toBe(405);
    expect(r.headers.allow).toBe('GET, HEAD');
  }
  // A malformed percent-escape is a bad request, not a crash.
  expect((await raw(seed(), '/%E0%A4%A')).status).toBe(400);
  // The server is still up after all that.
  expect((await raw(seed(), '/')).status).toBe(200);
});

test('path traversal never reaches a file outside the app folder', async () => {
  const attempts = [
    '/../secret.txt',
    '/%2e%2e/secret.txt',
    '/..%2fsecret.txt',
    '/%2e%2e%2fsecret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/assets/%2e%2e/%2e%2e/secret.txt',
    '/..%5csecret.txt',
    '/%2e%2e%5csecret.txt',
    '/../package.json',
    '/%2e%2e/package.json',
    '/..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd',
    `/${encodeURIComponent(join(dir, 'secret.txt'))}`,
  ];
  for (const path of attempts) {
    const r = await raw(seed(), path);
    expect([403, 404], `${path} -> ${r.status}`).toContain(r.status);
    expect(r.body).not.toContain(SECRET);
    expect(r.body).not.toContain('root:');
  }
  // An escaped name inside the folder still works.
  expect((await raw(seed(), '/index%2ehtml')).body).toBe(INDEX_HTML);
});

test('the run folder holds peer-key (mode 0600), run.json, weights.f32 and manifest.json, all consistent', async () => {
  expect((await stat(join(sharedRunDir, 'peer-key'))).mode & 0o777).toBe(0o600);
  const run = JSON.parse(await readFile(join(sharedRunDir, 'run.json'), 'utf8')) as {
    model: unknown;
    createdAt: string;
  };
  expect(run.model).toEqual(modelPreset('tiny'));
  expect(Number.isNaN(Date.parse(run.createdAt))).toBe(false);
  const weights = await readFile(join(sharedRunDir, 'weights.f32'));
  expect(weights.length).toBe(paramLayout(modelPreset('tiny')).total * 4);
  const w = seed().weights;
  expect(Buffer.compare(weights, new Uint8Array(w.buffer, w.byteOffset, w.byteLength))).toBe(0);
  const m = await verifyManifest(
    JSON.parse(await readFile(join(sharedRunDir, 'manifest.json'), 'utf8')),
    seed().peerId,
  );
  expect(m.id).toBe(seed().manifest.id);
  expect(m.value.sha256).toBe(seed().manifest.value.sha256);
});

/** A TCP server listening on `port` (0: a free one) of the loopback address. */
async function listening(port: number): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { server, port: (server.address() as { port: number }).port };
}

const closed = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

test('a start that fails halfway (the HTTP port is taken) stops what it started: no port held, no deadline left', async () => {
  const runDir = newRunDir();
  await cp(sharedRunDir, runDir, { recursive: true }); // a ready run folder, without training a tokenizer
  const taken = await listening(0);
  const free = await listening(0);
  await closed(free.server);
  const clock = manualClock();
  const lines: string[] = [];
  try {
    await expect(
      startSeed({
        runDir,
        httpPort: taken.port,
        p2pPort: free.port,
        appDir,
        fed: FED,
        clock,
        log: (line) => lines.push(line),
      }),
    ).rejects.toThrow(/EADDRINUSE/);
  } finally {
    await closed(taken.server);
  }
  // It failed late: the libp2p node listened, and the coordinator had opened round 0 with its deadline.
  expect(lines).toContainEqual(expect.stringMatching(/^round 0: 0 volunteer\(s\) assigned/));
  expect(clock.pending()).toBe(0); // the deadline was cancelled
  const p2p = await listening(free.port); // the node's WebSocket port is free again
  await closed(p2p.server);
});

test('restarting on the same run folder keeps the peer id, the weights and the manifest id', async () => {
  const first = { peerId: seed().peerId, manifest: seed().manifest.id, weights: seed().weights.slice() };
  await seed().stop();
  shared = undefined;
  // Naming the folder's own preset again is fine.
  await withSeed({ runDir: sharedRunDir, model: 'tiny' }, async (s) => {
    expect(s.peerId).toBe(first.peerId);
    expect(s.manifest.id).toBe(first.manifest);
    expect(
      Buffer.compare(
        new Uint8Array(s.weights.buffer, s.weights.byteOffset, s.weights.byteLength),
        new Uint8Array(first.weights.buffer),
      ),
    ).toBe(0);
  });
});

test('a run folder refuses another model preset, a lost peer key and damaged weights; a new one refuses an unknown preset', async () => {
  const runDir = sharedRunDir;
  // A lost key would silently make a new seed: refused, saying why.
  await rename(join(runDir, 'peer-key'), join(runDir, 'peer-key.away'));
  await expect(startSeed({ runDir, httpPort: 0, p2pPort: 0, appDir })).rejects.toThrow(
    `run folder ${runDir} holds a run but no peer-key: restore the key from a backup`,
  );
  await rename(join(runDir, 'peer-key.away'), join(runDir, 'peer-key'));
  await expect(startSeed({ runDir, httpPort: 0, p2pPort: 0, model: 'small', appDir })).rejects.toThrow(
    `run folder ${runDir} holds a different model (${JSON.stringify(modelPreset('tiny'))}); pick another --run folder`,
  );
  // Truncated, then missing weights.
  const expected = paramLayout(modelPreset('tiny')).total * 4;
  await truncate(join(runDir, 'weights.f32'), 100);
  await expect(startSeed({ runDir, httpPort: 0, p2pPort: 0, appDir })).rejects.toThrow(
    `run folder ${runDir}: weights.f32 is missing or not ${expected} bytes`,
  );
  await rm(join(runDir, 'weights.f32'));
  await expect(startSeed({ runDir, httpPort: 0, p2pPort: 0, appDir })).rejects.toThrow(
    `run folder ${runDir}: weights.f32 is missing or not ${expected} bytes`,
  );
  // A new folder with a preset that does not exist.
  await expect(startSeed({ runDir: newRunDir(), httpPort: 0, p2pPort: 0, model: 'huge', appDir })).rejects.toThrow(
    /unknown model preset "huge"; known: tiny, small/,
  );
});

test('a run folder whose model our kernels cannot run is refused before anything starts', async () => {
  const runDir = newRunDir();
  await mkdir(runDir, { recursive: true });
  const wide = { vocab: 64, context: 8, layers: 1, heads: 1, width: 256 };
  await writeFile(join(runDir, 'run.json'), JSON.stringify({ model: wide, createdAt: new Date().toISOString() }));
  await expect(startSeed({ runDir, httpPort: 0, p2pPort: 0, appDir })).rejects.toThrow(
    /head dimension 256 exceeds 128/,
  );
});

test('settings that every tab would refuse (a batch past the tab bound) stop the seed at start, naming the setting', async () => {
  const runDir = newRunDir();
  const fed = { ...FED, hyper: { ...FED.hyper, batchSize: MAX_ROUND_BATCH_SIZE + 1 } };
  await expect(startSeed({ runDir, httpPort: 0, p2pPort: 0, model: 'tiny', appDir, fed })).rejects.toThrow(
    `every tab would refuse this run's rounds: hyper.batchSize is ${MAX_ROUND_BATCH_SIZE + 1}, over the bound of ${MAX_ROUND_BATCH_SIZE}`,
  );
});
