// Federated training end to end: the seed CLI (a child process, so it can be killed) and three
// tabs training the tiny model on WebGPU (SwiftShader here). Three rounds lower the global
// validation loss; a tab closed mid-round does not hold the round past its deadline; the seed,
// killed with SIGKILL and started again, resumes from its last checkpoint with identical weights.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, expect, type Page, test } from '@playwright/test';
import type { SeedStatus } from '../src/seed';
import { chromiumFlags, requireChromium } from '../test/harness/chromium';
import { type SeedProcess, startSeedProcess } from './seed-process';
import { openTab, startContributing, tabState, tabUrl, waitForTab, waitForTabs } from './tabs';

const HTTP_PORT = 18080;
const SEED_URL = `http://127.0.0.1:${HTTP_PORT}`;
/** Short rounds: 4 local steps of 2×32 tokens; a round's deadline is ROUND_S seconds. */
const ROUND_S = 60;
const SEED_ARGS = [
  '--port',
  String(HTTP_PORT),
  '--p2p-port',
  '18081',
  '--steps',
  '4',
  '--batch',
  '2',
  '--seq-len',
  '32',
  '--round-seconds',
  String(ROUND_S),
];

let dir: string;
let seed: SeedProcess | undefined;
let browser: Browser;

async function status(): Promise<SeedStatus> {
  return (await fetch(`${SEED_URL}/status.json`)).json() as Promise<SeedStatus>;
}

/** Polls the seed until `done(status)`. */
async function waitForSeed(done: (s: SeedStatus) => boolean, timeoutMs: number, what: string): Promise<SeedStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await status().catch(() => undefined);
    if (s && done(s)) return s;
    if (Date.now() > deadline)
      throw new Error(`${what}: not reached in ${timeoutMs} ms; last status ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function startSeed(): SeedProcess {
  return startSeedProcess(['--run', join(dir, 'run'), '--app', join(dir, 'app'), ...SEED_ARGS]);
}

test.beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vgpu-fed-'));
  // The tabs load the page from the test's Vite server; the seed only needs something to serve.
  await mkdir(join(dir, 'app'));
  await writeFile(join(dir, 'app', 'index.html'), '<!doctype html><title>vgpu</title>');
  browser = await chromium.launch({
    executablePath: requireChromium(),
    args: chromiumFlags({ testSpeedups: true }),
    headless: true,
  });
});

test.afterAll(async () => {
  seed?.child.kill('SIGKILL');
  await browser?.close();
  await rm(dir, { recursive: true, force: true });
});

test('three tabs train together: the loss falls, a closed tab does not stall a round, a killed seed resumes', async ({
  baseURL,
}) => {
  test.setTimeout(720_000);
  seed = startSeed();
  await seed.waitFor(/Volunteer page:/, 90_000);
  const tabs: Page[] = await Promise.all([0, 1, 2].map(() => openTab(browser, tabUrl(baseURL!, SEED_URL))));
  // Training starts when the volunteer says so.
  await Promise.all(tabs.map((t) => startContributing(t)));

  // Three rounds with every tab in them (the first may run with fewer: tabs join as they load).
  const afterThree = await waitForSeed(
    (s) => s.round >= 3 && s.open.assigned === 3,
    6 * ROUND_S * 1000,
    'three rounds',
  );
  const losses = afterThree.history.map((h) => h.valLoss);
  console.log(`validation loss by round: ${losses.map((l) => l.toFixed(4)).join(' → ')}`);
  expect(afterThree.history.slice(0, 4).map((h) => h.round)).toEqual([0, 1, 2, 3]);
  expect(losses[3]).toBeLessThan(losses[0]! - 0.1);
  expect(afterThree.acceptedUpdates).toBeGreaterThanOrEqual(3);
  const states = await waitForTabs(tabs, (s) => s.training.receipts.some((r) => r.accepted), 60_000);
  for (const s of states) expect(s.training.tokens).toBeGreaterThan(0);
  // A tab in two rounds in a row rebuilt the second's weights from the first's and the round's
  // delta: int4 by default, about an eighth of the weights' bytes.
  const served = (await (await fetch(`${SEED_URL}/swarm.json`)).json()) as { manifests: { body: string }[] };
  const weightsBytes = (JSON.parse(served.manifests[0]!.body) as { totalBytes: number }).totalBytes;
  const deltaBytes = async () =>
    Math.max(...(await Promise.all(tabs.map(tabState))).map((s) => s?.training.lastDeltaBytes ?? 0));
  await expect.poll(deltaBytes, { timeout: 2 * ROUND_S * 1000 }).toBeGreaterThan(0);
  expect(await deltaBytes()).toBeLessThan(weightsBytes / 3);

  // Close one tab while it trains. The rounds that still count on it close without it, by their
  // deadline at the latest (it may have sent this round's update just before it closed, so the next
  // round may still name it); then a round assigns only the two tabs left. The wait allows two
  // deadlines and a margin: a round that waited for the closed tab would not get there.
  const [first, , closing] = tabs as [Page, Page, Page];
  await waitForTab(closing, (s) => s.training.status === 'training', 2 * ROUND_S * 1000);
  const open = (await status()).round;
  await closing.context().close();
  const next = await waitForSeed(
    (s) => s.round > open && s.open.assigned === 2,
    (2 * ROUND_S + 30) * 1000,
    'a round without the closed tab',
  );
  expect(next.history.at(-1)!.round).toBe(next.round);

  // SIGKILL the seed (whenever: maybe mid-checkpoint), start it again: it resumes from the last
  // complete checkpoint, with the same weights, and the run goes on.
  seed.child.kill('SIGKILL');
  await seed.exited;
  const checkpoint = JSON.parse(await readFile(join(dir, 'run', 'checkpoint.json'), 'utf8')) as {
    round: number;
    folder: string;
    acceptedUpdates: number;
  };
  const weightsSha = createHash('sha256')
    .update(await readFile(join(dir, 'run', checkpoint.folder, 'weights.f32')))
    .digest('hex');
  seed = startSeed();
  await seed.waitFor(new RegExp(`resuming from the checkpoint of round ${checkpoint.round}`), 90_000);
  await seed.waitFor(/Volunteer page:/, 30_000);
  const resumed = await status();
  expect(resumed.round).toBe(checkpoint.round);
  expect(resumed.history.length).toBe(checkpoint.round + 1);
  const swarm = (await (await fetch(`${SEED_URL}/swarm.json`)).json()) as { manifests: { body: string }[] };
  expect((JSON.parse(swarm.manifests[0]!.body) as { sha256: string }).sha256).toBe(weightsSha);
  // The two remaining tabs re-join the restarted seed and complete another round.
  const after = await waitForSeed((s) => s.round > checkpoint.round, 3 * ROUND_S * 1000, 'a round after the restart');
  // (Counted from the checkpoint: the tabs may have reported before `resumed` was read.)
  expect(after.acceptedUpdates).toBeGreaterThan(checkpoint.acceptedUpdates);
  const last = await tabState(first);
  expect(last?.training.receipts.length).toBeGreaterThan(states[0]!.training.receipts.length);
});
