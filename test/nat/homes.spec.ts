// Tabs in homes behind NAT (test/harness/nat.ts): home 1 (a cone NAT) holds two tabs, home 2 (a
// symmetric NAT) one, home 3 (a cone NAT) one. The seed, coturn and the page sit on the public
// network; the seed publishes coturn for STUN and TURN with per-tab credentials. The first tab gets
// the model from the seed, then three more come and assemble it too. Every two tabs connect over
// WebRTC, and the test asserts the path of each connection, from both ends, by the ICE candidate
// pair the browser selected (read from RTCIceTransport.getSelectedCandidatePair() through a hook on
// RTCPeerConnection): the two tabs of home 1 talk over their LAN, homes 1 and 3 through a hole
// punched in both NATs, home 2 with anyone else through coturn's relay. The seed's upload stays near
// one copy of the model (MAX_SEED_COPIES): its referrals name the tabs to fetch from, and a tab
// asks the seed again only when those links fail or stall (src/swarm/fetcher.ts).
import '../../src/seed'; // first: defines Promise.withResolvers for libp2p on Node 20
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, expect, test } from '@playwright/test';
import { downloaded, firstDownload, tabUrl, waitForTabs } from '../../e2e/tabs';
import { DEFAULT_FED_SETTINGS } from '../../src/fed';
import { type Seed, startSeed } from '../../src/seed';
import { chromiumFlags, requireChromium } from '../harness/chromium';
import { type Coturn, coturnAvailable, NO_COTURN_MESSAGE, startCoturn } from '../harness/coturn';
import { buildHomes, chromiumIn, forwardTcp, type Homes, mappedPorts, PUBLIC_IP } from '../harness/nat';

/** A few pieces, so that every tab has some to get from the others. */
const MODEL = 'small';
/** Four tabs over WebRTC, two of them through TURN, on a small machine. */
const DOWNLOAD_TIMEOUT_MS = 120_000;
/**
 * The seed's upload to the four tabs, in copies of the model: the first tab's one, plus what a link
 * that never comes up in time costs (a piece or two of the 4). Measured: 1.00 in 12 runs of 12 on a
 * loaded 2-core machine; before referrals, 1.8-2.7.
 */
const MAX_SEED_COPIES = 1.5;
const TURN_SECRET = 'nat-test-secret';

/** Where a tab sits: home index (1-based). Home 1 has two tabs. */
const TAB_HOMES = [1, 1, 2, 3];

type Path = 'lan' | 'punched' | 'relay';

/** The ICE path two homes' tabs should take: their LAN at home; hole punched when no NAT is symmetric; else TURN. */
function expectedPath(a: number, b: number): Path {
  if (a === b) return 'lan';
  return a === 2 || b === 2 ? 'relay' : 'punched';
}

/** One peer connection as the page recorded it: both certificates' fingerprints and the selected pair. */
interface PeerConnectionRecord {
  localFingerprint: string;
  remoteFingerprint: string;
  local: { type: string; address: string };
  remote: { type: string; address: string };
}

/**
 * Runs in each page before its scripts: wraps RTCPeerConnection so that every connection, once
 * connected, records its certificates' fingerprints and the ICE candidate pair selected (again at
 * each change), in window.vgpuPeerConnections. Closed connections stay recorded.
 */
function recordPeerConnections() {
  const records: PeerConnectionRecord[] = [];
  (window as unknown as { vgpuPeerConnections: PeerConnectionRecord[] }).vgpuPeerConnections = records;
  const fingerprint = (d: RTCSessionDescription | null) => d?.sdp.match(/a=fingerprint:\S+ (\S+)/)?.[1] ?? '';
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config?: RTCConfiguration) {
      super(config);
      const onState = () => {
        const ice = this.sctp?.transport.iceTransport;
        if (this.connectionState !== 'connected' || !ice) return;
        this.removeEventListener('connectionstatechange', onState);
        const record = {
          localFingerprint: fingerprint(this.localDescription),
          remoteFingerprint: fingerprint(this.remoteDescription),
        } as PeerConnectionRecord;
        const update = () => {
          const pair = ice.getSelectedCandidatePair();
          if (!pair) return;
          record.local = { type: pair.local.type ?? '', address: pair.local.address ?? '' };
          record.remote = { type: pair.remote.type ?? '', address: pair.remote.address ?? '' };
        };
        update();
        ice.addEventListener('selectedcandidatepairchange', update);
        records.push(record);
      };
      this.addEventListener('connectionstatechange', onState);
    }
  };
}

/**
 * The path a connection took, from one side's selected candidate pair (Chrome hides addresses, not
 * types): through coturn when either candidate is a relay; over the LAN when either is a host
 * candidate (a private address: no packet to or from one crosses a NAT, and a home's two tabs may
 * see each other's as peer reflexive, learned from the checks before the mDNS name resolves); else
 * through NAT mappings (server or peer reflexive on both ends), a punched hole.
 */
function pathOf(r: PeerConnectionRecord): Path | string {
  const types = [r.local.type, r.remote.type];
  if (types.includes('relay')) return 'relay';
  if (types.includes('host')) return 'lan';
  if (types.every((t) => t === 'srflx' || t === 'prflx')) return 'punched';
  return `unknown (${JSON.stringify(r)})`;
}

/** The links and addresses of the tests' own namespace, where the e2e project's browsers run too. */
function ownLinks(): string {
  return execFileSync('ip', ['-o', 'addr'], { encoding: 'utf8' });
}

let dir: string;
let linksBefore: string;
let homes: Homes;
let coturn: Coturn;
let seed: Seed;
const browsers: Browser[] = [];

test.beforeAll(async () => {
  test.setTimeout(180_000);
  if (!coturnAvailable()) throw new Error(NO_COTURN_MESSAGE);
  dir = await mkdtemp(join(tmpdir(), 'vgpu-nat-'));
  linksBefore = ownLinks();
  homes = await buildHomes(['cone', 'symmetric', 'cone']);
  coturn = await startCoturn({ ip: PUBLIC_IP, port: 3478, secret: TURN_SECRET, relayPorts: [49160, 49299] });
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>volunteer</title>');
  seed = await startSeed({
    runDir: join(dir, 'run'),
    host: PUBLIC_IP,
    model: MODEL,
    appDir: dir,
    // Nobody trains here: short validation windows keep the seed's first evaluation cheap.
    fed: { hyper: { ...DEFAULT_FED_SETTINGS.hyper, context: 16 } },
    ice: { stun: [coturn.stunUrl], turn: [coturn.turnUrl], turnSecret: TURN_SECRET },
  });
});

test.afterAll(async () => {
  for (const b of browsers) await b.close();
  await seed?.stop();
  await coturn?.stop();
  homes?.stop();
  await rm(dir, { recursive: true, force: true });
});

test("building the homes changes no link or address of the tests' own namespace", () => {
  // A change there would fail every request of a Chromium running in it (net::ERR_NETWORK_CHANGED).
  expect(ownLinks()).toContain(PUBLIC_IP);
  expect(ownLinks()).toBe(linksBefore);
});

test('the routers are a cone NAT, a symmetric NAT and a cone NAT', async () => {
  const [cone, symmetric, cone3] = homes.homes.map((h) => h);
  const [a, b] = await mappedPorts(cone!);
  expect(a).toBe(b);
  const [c, d] = await mappedPorts(symmetric!);
  expect(c).not.toBe(d);
  const [e, f] = await mappedPorts(cone3!);
  expect(e).toBe(f);
});

test('tabs in homes behind NAT connect over the LAN, through punched holes and through TURN', async ({
  baseURL,
}, testInfo) => {
  test.setTimeout(2 * DOWNLOAD_TIMEOUT_MS + 60_000);
  // The test pages (Vite, on loopback here) as the homes see them: on the public network.
  const vite = new URL(baseURL!);
  const pages = await forwardTcp(PUBLIC_IP, { host: vite.hostname, port: Number(vite.port) });
  try {
    const pageBase = `http://${PUBLIC_IP}:${pages.port}`;
    // The page needs a secure context (crypto.subtle); a test-only flag grants it to this origin.
    const args = [...chromiumFlags({ webgpu: false }), `--unsafely-treat-insecure-origin-as-secure=${pageBase}`];
    for (const home of homes.homes) {
      const executablePath = await chromiumIn(home.lan, requireChromium(), dir);
      browsers.push(await chromium.launch({ executablePath, args, headless: true }));
    }
    const openTab = async (home: number) => {
      const context = await browsers[home - 1]!.newContext();
      await context.addInitScript(recordPeerConnections);
      const page = await context.newPage();
      await page.goto(tabUrl(pageBase, seed.url.replace(/\/$/, '')), { waitUntil: 'commit' });
      return page;
    };
    // The first volunteer gets the model from the seed; the others come while it is there.
    const [firstHome, ...laterHomes] = TAB_HOMES;
    const first = await openTab(firstHome!);
    await waitForTabs([first], downloaded, DOWNLOAD_TIMEOUT_MS);
    const started = Date.now();
    const later = await Promise.all(laterHomes.map(openTab));
    await waitForTabs(later, downloaded, DOWNLOAD_TIMEOUT_MS);
    const seconds = (Date.now() - started) / 1000;
    const tabs = [first, ...later];
    const states = await waitForTabs(tabs, downloaded, 0); // all done: their states now
    const model = seed.manifest.value;
    for (const s of states) expect(firstDownload(s).held).toBe(model.pieces.length);

    // Each connection, from both sides, matched with the other side by certificate fingerprint.
    const records = await Promise.all(
      tabs.map((t) =>
        t.evaluate(() => (window as unknown as { vgpuPeerConnections: PeerConnectionRecord[] }).vgpuPeerConnections),
      ),
    );
    const tabOf = (fingerprint: string) =>
      records.findIndex((rs) => rs.some((r) => r.localFingerprint === fingerprint));
    const paths = new Map<string, Path | string>();
    for (const [i, rs] of records.entries()) {
      for (const r of rs) {
        const j = tabOf(r.remoteFingerprint);
        expect(j, `the other end of tab ${i}'s connection ${JSON.stringify(r)}`).toBeGreaterThanOrEqual(0);
        const [a, b] = [TAB_HOMES[i]!, TAB_HOMES[j]!];
        const path = pathOf(r);
        expect(path, `tab ${i} (home ${a}) to tab ${j} (home ${b}): ${JSON.stringify(r)}`).toBe(expectedPath(a, b));
        paths.set(
          `tab ${Math.min(i, j)} (home ${TAB_HOMES[Math.min(i, j)]}) - tab ${Math.max(i, j)} (home ${TAB_HOMES[Math.max(i, j)]})`,
          path,
        );
      }
    }
    // Every two tabs connected (announcements make each tab dial the others), so each kind of
    // path was taken: the same home, two cone NATs, a symmetric NAT.
    expect(paths.size).toBe((tabs.length * (tabs.length - 1)) / 2);
    expect(new Set(paths.values())).toEqual(new Set(['lan', 'punched', 'relay']));

    const uploaded = seed.status().uploadedBytes;
    const copies = (bytes: number) => (bytes / model.totalBytes).toFixed(2);
    const report =
      `${[...paths].map(([pair, path]) => `${pair}: ${path}`).join('; ')}. The later ${later.length} tabs took ` +
      `${seconds.toFixed(0)} s; the seed uploaded ${copies(uploaded)}x the model (${model.pieces.length} pieces) to ` +
      `${tabs.length} tabs; from peers, per tab: ${states.map((s) => copies(firstDownload(s).fromPeersBytes)).join(', ')}x`;
    console.log(report);
    testInfo.annotations.push({ type: 'nat paths', description: report });
    expect(uploaded).toBeGreaterThanOrEqual(model.totalBytes);
    expect(uploaded / model.totalBytes, report).toBeLessThanOrEqual(MAX_SEED_COPIES);
  } finally {
    await pages.close();
  }
});
