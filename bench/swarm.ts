// `npm run bench -- swarm [--cases N=2,N=4] [--runs n]`: N tabs in headless Chromium get the app and
// the 32 MiB swarm-32mib model from one seed, two ways, interleaved case by case (run by run, the
// order alternates):
//   ours           the volunteer page, served by the seed, fetches the model over the swarm: pieces
//                  from the seed and from other tabs (WebRTC, signalled through the seed's relay).
//   client-server  the same page from the seed (pointed at no swarm), then the model over plain HTTP
//                  from the seed (/weights/<piece sha256>), no peers.
// Per case and implementation: `seed_upload_ratio`, every byte the seed sent (status().sentBytes:
// its HTTP sockets and its libp2p connections, see src/seed/traffic.ts) divided by the model's
// bytes, from the first tab opened until the last tab holds the model, verified; and `last_tab_s`,
// that time. Both are read from the seed's counters before and after. Each case and run gets a fresh
// seed, which the two implementations share; each implementation's tabs run in a browser of their
// own, closed before the next. Runs inside the private network namespace.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from '@playwright/test';
import { build } from 'vite';
import { downloaded, openTab, tabUrl, waitForTabs } from '../e2e/tabs';
import { DEFAULT_FED_SETTINGS } from '../src/fed';
import { type Seed, type SentBytes, startSeed } from '../src/seed';
import type { SignedDocument, WeightsManifest } from '../src/swarm';
import { chromiumFlags, requireChromium } from '../test/harness/chromium';
import { type BenchResult, type BenchRow, median, spreadRows } from './lib/results';

const TAB_COUNTS = [2, 4, 8];
/** Per implementation and run; eight tabs on a 2-core machine take a few minutes. */
const DELIVERY_TIMEOUT_MS = 600_000;
/**
 * The seed a client-server tab's page is told to join: a port nothing listens on in the private
 * namespace, so the page loads exactly as the volunteer's and then fetches nothing more.
 */
const NO_SEED = 'http://127.0.0.1:1';
const IMPLS = ['ours', 'client-server'] as const;
type Impl = (typeof IMPLS)[number];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** One delivery of the model to N tabs: the last tab's time and what the seed sent meanwhile. */
interface Delivery {
  seconds: number;
  sent: SentBytes;
  /** Every byte sent over the model's bytes. */
  ratio: number;
}

export async function runSwarmBench(
  _pageBase: string,
  options: { cases?: string[]; runs?: number },
): Promise<BenchResult> {
  const counts = options.cases ? options.cases.map((c) => Number(c.replace(/^N=/, ''))) : TAB_COUNTS;
  const runs = options.runs ?? 1;
  const dir = await mkdtemp(join(tmpdir(), 'vgpu-bench-swarm-'));
  try {
    // The app as `npm start` serves it: the seed sends its bytes to every tab.
    const appDir = join(dir, 'app');
    await build({ root, logLevel: 'error', build: { outDir: appDir, emptyOutDir: true } });
    // Nobody trains here: short validation windows keep the seed's first evaluation cheap.
    const hyper = { ...DEFAULT_FED_SETTINGS.hyper, context: 16 };
    const rows: BenchRow[] = [];
    const breakdown: string[] = [];
    let model: WeightsManifest | undefined;
    for (const n of counts) {
      const deliveries: Record<Impl, Delivery[]> = { ours: [], 'client-server': [] };
      for (let run = 0; run < runs; run++) {
        // A fresh seed (restarted on one run folder) for each case and run, which both
        // implementations share (client-server uses no libp2p): gossipsub keeps the scores of
        // disconnected peers for an hour and counts them against their IP, so an earlier run's
        // tabs would weigh on the next run's.
        const seed = await startSeed({ runDir: join(dir, 'run'), model: 'swarm-32mib', appDir, fed: { hyper } });
        try {
          model = seed.manifest.value;
          for (const impl of run % 2 ? [...IMPLS].reverse() : IMPLS)
            deliveries[impl].push(await deliver(seed, impl, n));
        } finally {
          await seed.stop();
        }
      }
      rows.push(...IMPLS.flatMap((impl) => caseRows(`N=${n}`, impl, deliveries[impl])));
      breakdown.push(`N=${n} ours: ${libp2pBreakdown(deliveries.ours)}`);
    }
    if (!model) throw new Error('no cases to run');
    return {
      adapter: { description: 'none: the swarm benchmark moves bytes, it does not use the GPU' },
      rows,
      notes: [
        `model: the swarm-32mib preset (${model.totalBytes} bytes, ${model.pieces.length} pieces); every tab's assembled vector must have the manifest's sha256, or the benchmark fails`,
        `${runs} run(s) per case and implementation${runs > 1 ? ': median [min–max]' : ''}; ours and client-server interleaved, the order alternating run by run; a fresh seed for each case and run, shared by the two`,
        'seed_upload_ratio: every byte the seed sent from the first tab opened until the last tab held the model, divided by the model bytes; last_tab_s: that time (ours: tab states polled every 250 ms)',
        "counted: every byte the seed's HTTP server wrote to its sockets (status lines, headers, bodies: the app, /swarm.json, /status.json polling, /round.json, the weights) and every byte libp2p wrote to its connections (multistream-select, Noise handshake and encryption, yamux framing; inside them pieces, gossipsub with its forwarding, identify, ping, relay reservations, signalling and relayed data); not counted: WebSocket frame headers and upgrade responses, TCP/IP headers",
        `the app a tab loads at start, as served: ${mb(await appBytes(appDir))} (index.html, its script, style and icon; vite build of this tree); the trainer worker and onnxruntime load only when contributing, not here`,
        "client-server: each tab loads the same page from the seed, told to join a seed that is not there (so it fetches nothing more), then fetches /swarm.json and every piece (/weights/<sha256>, all requested at once; Chromium opens up to 6 connections) and checks each piece's and the whole vector's sha256; it does not check the manifest's signature or store the pieces (ours does both)",
        `libp2p bytes the seed sent by stream protocol, framing and encryption apart (${runs > 1 ? 'medians' : 'one run'}): ${breakdown.join('; ')}`,
        'all tabs and the seed share this machine (and its CPUs), inside a private network namespace',
      ],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The figures of each delivery, in the order of the table. */
const FIGURES: [metric: string, of: (d: Delivery) => number][] = [
  ['seed_upload_ratio', (d) => d.ratio],
  ['last_tab_s', (d) => d.seconds],
  ['seed_sent_http_bytes', (d) => d.sent.http],
  ['seed_sent_libp2p_bytes', (d) => d.sent.libp2p],
];

/** One implementation's rows for one case: each figure with its spread when there are several runs. */
function caseRows(c: string, impl: Impl, ds: Delivery[]): BenchRow[] {
  return FIGURES.flatMap(([metric, of]) => {
    const values = ds.map(of);
    return values.length > 1 ? spreadRows(c, impl, metric, values) : [{ case: c, impl, metric, value: values[0]! }];
  });
}

/** Opens `tabs` tabs of `impl` in a browser of their own; resolves when the last one holds the model, verified. */
async function deliver(seed: Seed, impl: Impl, tabs: number): Promise<Delivery> {
  const browser = await chromium.launch({
    executablePath: requireChromium(),
    args: chromiumFlags({ webgpu: false }),
    headless: true,
  });
  try {
    const before = seed.status().sentBytes;
    const started = Date.now();
    const hashes = await (impl === 'ours' ? swarmTabs : httpTabs)(browser, seed, tabs);
    const seconds = (Date.now() - started) / 1000;
    const sent = sentSince(before, seed.status().sentBytes);
    const model = seed.manifest.value;
    if (hashes.some((h) => h !== model.sha256)) throw new Error(`N=${tabs} ${impl}: a tab assembled different weights`);
    const total = sent.http + sent.libp2p;
    console.log(
      `  N=${tabs} ${impl}: the seed sent ${mb(total)} (HTTP ${mb(sent.http)}, libp2p ${mb(sent.libp2p)}) = ` +
        `${(total / model.totalBytes).toFixed(2)}x the model; last tab after ${seconds.toFixed(1)} s`,
    );
    return { seconds, sent, ratio: total / model.totalBytes };
  } finally {
    await browser.close();
  }
}

/** The volunteer's page from the seed: it joins the swarm and downloads the model. Returns each tab's sha256. */
async function swarmTabs(browser: Browser, seed: Seed, tabs: number): Promise<(string | undefined)[]> {
  const base = seed.url.replace(/\/$/, '');
  const pages = await Promise.all(
    Array.from({ length: tabs }, () => openTab(browser, tabUrl(base, base), (line) => console.log(`  ${line}`))),
  );
  const states = await waitForTabs(pages, downloaded, DELIVERY_TIMEOUT_MS);
  return states.map((s) => s.downloads[0]?.weightsSha256);
}

/** The same page, joining no swarm, then the model over HTTP (downloadOverHttp). Returns each tab's sha256. */
async function httpTabs(browser: Browser, seed: Seed, tabs: number): Promise<string[]> {
  const url = tabUrl(seed.url.replace(/\/$/, ''), NO_SEED);
  return Promise.all(
    Array.from({ length: tabs }, async () => {
      const page = await openTab(browser, url, (line) => console.log(`  ${line}`));
      await page.waitForLoadState('load', { timeout: DELIVERY_TIMEOUT_MS });
      return page.evaluate(downloadOverHttp);
    }),
  );
}

/**
 * Runs in a client-server tab (its page from the seed): the seed's manifest from /swarm.json, then
 * every piece over HTTP at once; checks each piece's sha256 and returns the whole vector's. Nothing
 * in here may be a named inner function: the bench runs under tsx, whose name helper the page lacks.
 */
async function downloadOverHttp(): Promise<string> {
  const info = (await (await fetch('/swarm.json', { cache: 'no-store' })).json()) as { manifests: SignedDocument[] };
  const manifest = JSON.parse(info.manifests[0]!.body) as WeightsManifest;
  const pieces = await Promise.all(
    manifest.pieces.map(async (hash) => {
      const res = await fetch(`/weights/${hash}`, { cache: 'no-store' });
      if (!res.ok) throw new Error(`/weights/${hash}: HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    }),
  );
  const whole = new Uint8Array(manifest.totalBytes);
  for (const [i, piece] of pieces.entries()) whole.set(piece, i * manifest.pieceBytes);
  const digests = await Promise.all([...pieces, whole].map((bytes) => crypto.subtle.digest('SHA-256', bytes)));
  const hashes = digests.map((d) => Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0')).join(''));
  const bad = manifest.pieces.findIndex((hash, i) => hashes[i] !== hash);
  if (bad >= 0) throw new Error(`piece ${bad}: its sha256 is not the manifest's`);
  return hashes.at(-1)!;
}

function sentSince(before: SentBytes, after: SentBytes): SentBytes {
  const protocols = new Set([...Object.keys(before.libp2pStreams), ...Object.keys(after.libp2pStreams)]);
  return {
    http: after.http - before.http,
    libp2p: after.libp2p - before.libp2p,
    libp2pStreams: Object.fromEntries(
      [...protocols].map((p) => [p, (after.libp2pStreams[p] ?? 0) - (before.libp2pStreams[p] ?? 0)]),
    ),
  };
}

/** "piece 33.69 MB, gossipsub ..., framing and encryption ...": medians over the runs. */
function libp2pBreakdown(ds: Delivery[]): string {
  const protocols = [...new Set(ds.flatMap((d) => Object.keys(d.sent.libp2pStreams)))].sort();
  const streams = (d: Delivery) => Object.values(d.sent.libp2pStreams).reduce((a, b) => a + b, 0);
  const parts = protocols.map((p) => `${p} ${mb(median(ds.map((d) => d.sent.libp2pStreams[p] ?? 0)))}`);
  parts.push(`framing and encryption ${mb(median(ds.map((d) => d.sent.libp2p - streams(d))))}`);
  return parts.join(', ');
}

/** Bytes of the page a tab loads at start: index.html and the files it names (script, style, icon). */
async function appBytes(appDir: string): Promise<number> {
  const html = await readFile(join(appDir, 'index.html'), 'utf8');
  const named = [...html.matchAll(/(?:src|href)="\/([^"]+)"/g)].map((m) => m[1]!);
  const sizes = await Promise.all(named.map(async (file) => (await stat(join(appDir, file))).size));
  return sizes.reduce((a, b) => a + b, Buffer.byteLength(html));
}

/** Decimal megabytes, or kilobytes below one. */
const mb = (bytes: number) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(2)} MB` : `${(bytes / 1e3).toFixed(1)} kB`);
