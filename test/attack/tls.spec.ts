// The seed with TLS (issue 15, item 1), against a certificate the test makes itself: the page and
// /swarm.json over https, libp2p over wss only (advertised under the certificate's name too); plain
// http to either port is cut off at once and the seed serves on; a TLS handshake that never comes
// is closed after the headers timeout; certificate and key files that are missing, not PEM or not a
// pair stop the seed before it listens, naming the file; the CLI takes both flags or neither.
// Without TLS the seed says which pages get WebGPU. Clients trust the test's certificate in this
// test only (test/harness/tls.ts); everything stays on loopback.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import { expect, test } from '@playwright/test';
import { DEFAULT_FED_SETTINGS } from '../../src/fed';
import { type Seed, startSeed } from '../../src/seed';
import { readTlsFiles, startHttpServer } from '../../src/seed/http';
import { PIECE_PROTOCOL, requestPiece, type SeedInfo } from '../../src/swarm';
import { createAttacker, dialSeed, startTestSeed } from '../harness/attacker';
import { getTrusting, makeTestCertificate, type TestCertificate, trustInWebSockets } from '../harness/tls';

/** How long a refused plain-http request may take to fail: it is cut off, not left to time out. */
const REFUSED_WITHIN_MS = 5_000;

let cert: TestCertificate;
let dir: string;
let seed: Seed;
let restoreWebSocket: () => void;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  cert = await makeTestCertificate();
  restoreWebSocket = trustInWebSockets(cert.cert);
  dir = await mkdtemp(join(tmpdir(), 'vgpu-tls-seed-'));
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>volunteer</title>');
  seed = await startSeed({
    runDir: join(dir, 'run'),
    appDir: dir,
    model: 'tiny',
    tls: cert,
    fed: { hyper: { ...DEFAULT_FED_SETTINGS.hyper, context: 16 } },
  });
});

test.afterAll(async () => {
  restoreWebSocket?.();
  await seed?.stop();
  await rm(dir, { recursive: true, force: true });
  await cert?.remove();
});

const p2pPort = () => Number(seed.info().addrs[0]!.match(/\/tcp\/(\d+)\//)![1]);

test('the page and /swarm.json come over https; /swarm.json advertises only wss, under the certificate name too', async () => {
  expect(seed.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
  const page = await getTrusting(seed.url, cert.cert);
  expect([page.status, page.body]).toEqual([200, '<!doctype html><title>volunteer</title>']);
  const swarm = await getTrusting(new URL('/swarm.json', seed.url).href, cert.cert);
  expect(swarm.status).toBe(200);
  const { addrs, peerId } = JSON.parse(swarm.body) as SeedInfo;
  expect(peerId).toBe(seed.peerId);
  const port = p2pPort();
  expect(addrs.sort()).toEqual(
    [
      `/dns/localhost/tcp/${port}/tls/ws/p2p/${seed.peerId}`,
      `/ip4/127.0.0.1/tcp/${port}/tls/ws/p2p/${seed.peerId}`,
    ].sort(),
  );
});

test('a Node libp2p peer connects over wss and fetches a piece on a stream; plain ws is refused', async () => {
  const peer = await createAttacker();
  try {
    const connection = await dialSeed(peer, seed);
    expect(connection.remoteAddr.toString()).toMatch(/\/tls\/ws\//);
    const piece = await requestPiece(await connection.newStream(PIECE_PROTOCOL), {
      manifest: seed.manifest.id,
      index: 0,
    });
    expect(createHash('sha256').update(piece).digest('hex')).toBe(seed.manifest.value.pieces[0]);
    await connection.close();

    const plain = await createAttacker();
    try {
      // libp2p rejects with the socket's error event here, not an Error: the outcome is what counts.
      const dialled = plain.dial(multiaddr(`/ip4/127.0.0.1/tcp/${p2pPort()}/ws/p2p/${seed.peerId}`));
      expect(
        await dialled.then(
          () => 'connected',
          () => 'refused',
        ),
      ).toBe('refused');
    } finally {
      await plain.stop();
    }
  } finally {
    await peer.stop();
  }
});

/** A plain http GET; resolves with how it failed (or its status, if it got one). */
function plainHttp(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = get(url, (res) => {
      res.resume();
      resolve(`status ${res.statusCode}`);
    });
    req.setTimeout(REFUSED_WITHIN_MS, () => req.destroy(new Error('timed out')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

test('plain http to the https port and to the wss port is cut off at once; the seed serves on', async () => {
  const httpPort = new URL(seed.url).port;
  for (const port of [httpPort, String(p2pPort())]) {
    const started = Date.now();
    expect(await plainHttp(`http://127.0.0.1:${port}/swarm.json`)).toBe('ECONNRESET');
    expect(Date.now() - started).toBeLessThan(REFUSED_WITHIN_MS);
  }
  expect((await getTrusting(new URL('/swarm.json', seed.url).href, cert.cert)).status).toBe(200);
  const peer = await createAttacker();
  try {
    await dialSeed(peer, seed);
  } finally {
    await peer.stop();
  }
});

test('a TLS handshake that never comes is closed after the headers timeout (the HTTPS server alone, short budgets)', async () => {
  const headersTimeoutMs = 1_000;
  const server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    appDir: dir,
    routes: {},
    tls: await readTlsFiles(cert),
    limits: { headersTimeoutMs, requestTimeoutMs: 2 * headersTimeoutMs, timeoutCheckIntervalMs: 100 },
  });
  try {
    const silent = connect({ host: '127.0.0.1', port: Number(new URL(server.url).port) });
    silent.on('error', () => {});
    await new Promise((resolve) => silent.once('connect', resolve));
    const start = performance.now();
    await new Promise((resolve) => silent.once('close', resolve));
    expect(performance.now() - start).toBeGreaterThan(headersTimeoutMs - 50);
    expect(performance.now() - start).toBeLessThan(4 * headersTimeoutMs); // not Node's 120 s default
    expect((await getTrusting(server.url, cert.cert)).status).toBe(200);
  } finally {
    await server.stop();
  }
});

test('missing, non-PEM and mismatched certificate or key files stop the seed before it starts, naming the file', async () => {
  const other = await makeTestCertificate();
  const runDir = join(dir, 'never-created');
  const start = (tls: { certFile: string; keyFile: string }) => startSeed({ runDir, appDir: dir, tls });
  try {
    const missing = join(dir, 'missing.pem');
    await expect(start({ certFile: missing, keyFile: cert.keyFile })).rejects.toThrow(
      `cannot read the TLS certificate ${missing}: ENOENT`,
    );
    await expect(start({ certFile: cert.certFile, keyFile: missing })).rejects.toThrow(
      `cannot read the TLS private key ${missing}: ENOENT`,
    );
    // The files swapped: neither is what its flag says.
    await expect(start({ certFile: cert.keyFile, keyFile: cert.certFile })).rejects.toThrow(
      `${cert.keyFile} is not a PEM certificate`,
    );
    await expect(start({ certFile: cert.certFile, keyFile: cert.certFile })).rejects.toThrow(
      `${cert.certFile} is not a PEM private key`,
    );
    const garbled = join(dir, 'garbled.pem');
    await writeFile(garbled, '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n');
    await expect(start({ certFile: garbled, keyFile: cert.keyFile })).rejects.toThrow(
      `${garbled} is not a valid PEM certificate`,
    );
    await expect(start({ certFile: cert.certFile, keyFile: other.keyFile })).rejects.toThrow(
      `the private key in ${other.keyFile} is not the key of the certificate in ${cert.certFile}`,
    );
  } finally {
    await other.remove();
  }
});

test('the CLI takes --tls-cert and --tls-key together or not at all, and names an unreadable file', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['bin/vgpu-seed.js', '--app', dir, '--run', join(dir, 'cli-run'), ...args], {
      encoding: 'utf8',
      timeout: 60_000,
    });
  for (const args of [
    ['--tls-cert', cert.certFile],
    ['--tls-key', cert.keyFile],
  ]) {
    const run = cli(...args);
    expect([run.status, run.stderr.trim()]).toEqual([
      1,
      'vgpu-seed: --tls-cert and --tls-key go together: give both (https and wss) or neither (http and ws)',
    ]);
  }
  const missing = join(dir, 'missing.pem');
  const run = cli('--tls-cert', missing, '--tls-key', cert.keyFile);
  expect(run.status).toBe(1);
  expect(run.stderr).toContain(`vgpu-seed: cannot read the TLS certificate ${missing}`);
});

test('without TLS the seed says that only loopback http pages get WebGPU, and how to turn TLS on', async () => {
  const logs: string[] = [];
  const plain = await startTestSeed({ model: 'tiny', log: (line) => logs.push(line) });
  try {
    const port = new URL(plain.seed.url).port;
    const note = logs.find((l) => l.startsWith('No TLS'));
    expect(note).toContain('Browsers give WebGPU only to secure contexts');
    expect(note).toContain(`http://127.0.0.1:${port}/ or http://localhost:${port}/`);
    expect(note).toContain('--tls-cert FILE --tls-key FILE');
  } finally {
    await plain.stop();
  }
});
