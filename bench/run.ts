// `npm run bench -- <name> [--cases a,b] [--runs n] [--node] [--out dir]`: runs a benchmark in headless
// Chromium (WebGPU on SwiftShader, or the real GPU with GPU=1), writes bench/results/<name>.json
// and prints the table with ours-vs-peer ratios. With --node, a page benchmark (matmul, attention,
// train) runs in Node on Dawn instead (bench/node.ts) and writes <name>-node.json. The swarm benchmark drives a seed and several
// tabs from here, inside a private network namespace (it re-runs itself in one); the federated
// benchmark runs in Node, in child processes (one per core), on the CPU reference model; its
// `--runs` is its number of seeds. The soak benchmark runs a seed, Node volunteers and attackers
// in the namespace for VGPU_SOAK_SECONDS. The byzantine benchmark (federated training under
// attack) runs like the federated one, seeds included. The churn benchmark drives one tab (a page of
// this Vite server) through peer connect/disconnect cycles against a seed, in the namespace. The scale
// benchmark runs one seed coordinator per case under hundreds of simulated volunteers, in Node; the
// load benchmark runs 32 Node volunteer processes against a seed, or a root and 2 helpers, in the namespace.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';
import type { ViteDevServer } from 'vite';
import { createServer } from 'vite';
import { inNetns, NETNS_HELP, netnsAvailable, runInNetns } from '../scripts/netns';
import { registerViteImports } from '../src/volunteer/vite-imports';
import { chromiumFlags, requireChromium } from '../test/harness/chromium';
import { runByzantineBench } from './byzantine';
import { runFederatedBench } from './federated';
import { BENCH_USAGE_OPTIONS, type BenchOptions, parseBenchArgs, saveResult } from './lib/cli';
import type { BenchResult } from './lib/results';
import { runScaleBench } from './scale';
import { runSwarmBench } from './swarm';

/** Browser benchmarks: the module under bench/ whose run() produces the result. */
const BROWSER_BENCHES: Record<string, string> = {
  matmul: '/bench/matmul.page.ts',
  attention: '/bench/attention.page.ts',
  train: '/bench/train.page.ts',
};

/** Benchmarks driven from Node (they open their own tabs): name to runner, given the pages' base URL. */
const NODE_BENCHES: Record<string, (pageBase: string, options: BenchOptions) => Promise<BenchResult>> = {
  swarm: runSwarmBench,
  federated: (_base, options) => runFederatedBench('federated', options),
  'federated-sweep': (_base, options) => runFederatedBench('federated-sweep', options),
  byzantine: runByzantineBench,
  scale: runScaleBench,
  // Loaded only when run: its children are seeds, helpers and volunteers (libp2p on Node 20).
  load: (base, options) => import('./load').then((m) => m.runLoadBench(base, options)),
  // Loaded only when run: its attackers replace this process's WebSocket client (bench/lib/soak-attacks.ts).
  soak: (base, options) => import('./soak').then((m) => m.runSoakBench(base, options)),
  // Loaded only when run: its short-lived peers set this process's WebSocket client (Node 20).
  churn: (base, options) => import('./churn').then((m) => m.runChurnBench(base, options)),
};
/** Of those, the ones that need no Vite server (the swarm serves a built app from its seed; their runner gets an empty base). */
const NO_PAGES = new Set(['federated', 'federated-sweep', 'byzantine', 'scale', 'swarm', 'soak', 'load']);
/** Of those, the ones that need the private network namespace (WebRTC between tabs or volunteers). */
const NEEDS_NETNS = new Set(['swarm', 'soak', 'churn', 'load']);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Vite serving the repo (benchmark and app pages) on a free loopback port. */
async function startPages(): Promise<{ server: ViteDevServer; base: string }> {
  process.env.VGPU_NO_RELOAD = '1'; // see vite.config.ts
  const server = await createServer({ root, logLevel: 'warn', server: { port: 0, host: '127.0.0.1' } });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('vite did not report a port');
  return { server, base: `http://127.0.0.1:${address.port}` };
}

async function runInBrowser(base: string, modulePath: string, options: BenchOptions): Promise<BenchResult> {
  const browser = await chromium.launch({ executablePath: requireChromium(), args: chromiumFlags(), headless: true });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.log(`  [page] ${m.text()}`));
    page.on('pageerror', (e) => console.error(`  [page error] ${e.message}`));
    await page.goto(`${base}/bench/bench.html`);
    const expression = `import(${JSON.stringify(modulePath)}).then((m) => m.run(${JSON.stringify(options)}))`;
    return (await page.evaluate(expression)) as BenchResult;
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  const { name, options, node, out = join(root, 'bench', 'results') } = parseBenchArgs(process.argv.slice(2));
  const modulePath = BROWSER_BENCHES[name];
  const nodeBench = NODE_BENCHES[name];
  if (!modulePath && !nodeBench) {
    throw new Error(
      `usage: npm run bench -- <${[...Object.keys(BROWSER_BENCHES), ...Object.keys(NODE_BENCHES)].join('|')}> ${BENCH_USAGE_OPTIONS}`,
    );
  }
  if (node && !modulePath)
    throw new Error(`--node runs the page benchmarks (${Object.keys(BROWSER_BENCHES)}), not ${name}`);
  if (NEEDS_NETNS.has(name) && !inNetns()) {
    if (!netnsAvailable()) throw new Error(NETNS_HELP);
    process.exit(runInNetns([process.execPath, ...process.execArgv, ...process.argv.slice(1)]));
  }
  const started = Date.now();
  let result: BenchResult;
  if (node) {
    registerViteImports(); // before bench/node.ts loads the benchmark modules and their WGSL
    const { runPageBenchInNode } = await import('./node');
    result = await runPageBenchInNode(name, options);
  } else if (nodeBench && NO_PAGES.has(name)) {
    result = await nodeBench('', options);
  } else {
    const { server, base } = await startPages();
    try {
      result = modulePath ? await runInBrowser(base, modulePath, options) : await nodeBench!(base, options);
    } finally {
      await server.close();
    }
  }
  await saveResult(out, node ? `${name}-node` : name, result, started);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
