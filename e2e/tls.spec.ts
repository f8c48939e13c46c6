// A volunteer's page over https (issue 15, item 1): the real CLI with --tls-cert and --tls-key on a
// fresh build, a certificate the test makes itself, and headless Chromium trusting that certificate
// alone through a flag given to this test's browser. The page is a secure context with WebGPU, and
// its tab joins the seed over wss and downloads the model. A browser without the flag refuses it.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, expect, test } from '@playwright/test';
import type { SeedInfo } from '../src/swarm';
import { chromiumFlags, requireChromium } from '../test/harness/chromium';
import { getTrusting, makeTestCertificate, type TestCertificate } from '../test/harness/tls';
import { type SeedProcess, startSeedProcess } from './seed-process';
import { downloaded, waitForTab } from './tabs';

let dir: string;
let cert: TestCertificate;
let seed: SeedProcess | undefined;
const browsers: Browser[] = [];

test.beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vgpu-tls-page-'));
  cert = await makeTestCertificate();
  const build = spawnSync('npx', ['vite', 'build', '--outDir', join(dir, 'dist'), '--logLevel', 'error'], {
    encoding: 'utf8',
  });
  expect(build.status, build.stderr).toBe(0);
});

test.afterAll(async () => {
  for (const b of browsers) await b.close();
  seed?.child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
  await cert?.remove();
});

async function launch(args: string[]): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: requireChromium(), args, headless: true });
  browsers.push(browser);
  return browser;
}

test('the page comes over https as a secure context with WebGPU, and the tab joins the seed over wss', async () => {
  test.setTimeout(180_000);
  seed = startSeedProcess([
    ...['--run', join(dir, 'run'), '--app', join(dir, 'dist'), '--port', '0', '--p2p-port', '0'],
    ...['--tls-cert', cert.certFile, '--tls-key', cert.keyFile],
  ]);
  const [, url] = await seed.waitFor(/Volunteer page: (https:\/\/\S+)/, 60_000);
  expect(seed.output()).not.toContain('No TLS');
  const swarm = JSON.parse((await getTrusting(new URL('/swarm.json', url).href, cert.cert)).body) as SeedInfo;

  // Without the flag, Chromium refuses the certificate: the trust below comes from the flag alone.
  const untrusting = await launch(chromiumFlags({ testSpeedups: true }));
  await expect((await untrusting.newPage()).goto(url!)).rejects.toThrow(/ERR_CERT_AUTHORITY_INVALID/);

  const browser = await launch([...chromiumFlags({ testSpeedups: true }), cert.chromiumFlag]);
  const tab = await browser.newPage();
  const sockets: string[] = [];
  tab.on('websocket', (ws) => sockets.push(ws.url()));
  await tab.goto(url!, { waitUntil: 'commit' });
  const state = await waitForTab(tab, downloaded, 120_000);
  expect(state.peers).toContainEqual({ id: swarm.peerId, kind: 'seed' });
  expect(await tab.evaluate(() => ({ secure: window.isSecureContext, webgpu: 'gpu' in navigator }))).toEqual({
    secure: true,
    webgpu: true,
  });
  // Every WebSocket the tab opened went to the seed's wss port.
  const p2pPort = swarm.addrs[0]!.match(/\/tcp\/(\d+)\//)![1];
  expect(sockets.length).toBeGreaterThan(0);
  for (const socket of sockets)
    expect(socket).toMatch(new RegExp(`^wss://(127\\.0\\.0\\.1|localhost):${p2pPort}(/|$)`));

  seed.child.kill('SIGINT');
  expect(await seed.exited).toBe(0);
  seed = undefined;
});
