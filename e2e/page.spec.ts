// The volunteer's page end to end, against a seed in this process: a tab starts, trains and shows
// the round, the falling loss and an accepted receipt; Pause stops GPU work within one step; a
// reload resumes without downloading again; "try the model" runs the weights through ONNX; and the
// failure states (no WebGPU, seed unreachable) say what to do. Screenshots go to test-screens/.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, expect, type Page, test } from '@playwright/test';
import { type Seed, startSeed } from '../src/seed';
import type { TabState } from '../src/tab';
import { chromiumFlags, requireChromium } from '../test/harness/chromium';
import { screenshot } from './screens';
import { firstDownload, openTab, startContributing, tabUrl, waitForTab, waitForTabs } from './tabs';

test.describe.configure({ mode: 'serial' });

let seed: Seed;
let runDir: string;
let browser: Browser;
let page: Page;

test.beforeAll(async () => {
  runDir = await mkdtemp(join(tmpdir(), 'vgpu-page-'));
  seed = await startSeed({
    runDir,
    appDir: runDir,
    fed: { hyper: { steps: 4, batchSize: 2, context: 32, lr: 3e-3, weightDecay: 0.1, dataSeed: 1 }, roundMs: 90_000 },
  });
  browser = await chromium.launch({
    executablePath: requireChromium(),
    args: chromiumFlags({ testSpeedups: true }),
    headless: true,
  });
});

test.afterAll(async () => {
  await browser?.close();
  await seed?.stop();
  await rm(runDir, { recursive: true, force: true });
});

test('a volunteer presses Start; the page shows training, the round, a falling loss and an accepted receipt', async ({
  baseURL,
}, testInfo) => {
  test.setTimeout(400_000);
  const loaded = Date.now();
  page = await openTab(browser, tabUrl(baseURL!, seed.url.replace(/\/$/, '')));
  await page.locator('#now').waitFor({ state: 'attached' });
  // A round of 4 steps can end between two looks at the page: every text "now" shows is recorded.
  await page.evaluate(() => {
    const now = document.getElementById('now')!;
    const seen: string[] = [];
    Object.assign(window, { nowSeen: seen });
    new MutationObserver(() => seen.push(now.textContent ?? '')).observe(now, {
      childList: true,
      characterData: true,
      subtree: true,
    });
  });
  await startContributing(page);
  await waitForTabs([page], (s) => s.training.losses.length > 0, 120_000);
  const firstStepS = (Date.now() - loaded) / 1000;
  console.log(`page load to first training step: ${firstStepS.toFixed(1)} s`);
  testInfo.annotations.push({ type: 'first step', description: `${firstStepS.toFixed(1)} s from page load` });
  await screenshot(page, 'training', testInfo);
  await expect
    .poll(() => page.evaluate(() => (window as unknown as { nowSeen: string[] }).nowSeen))
    .toContainEqual(expect.stringMatching(/Training round \d+: step \d+ of 4/));

  const s = await waitForTab(
    page,
    (st) => (st.global?.history.length ?? 0) >= 3 && st.training.receipts.some((r) => r.accepted),
    300_000,
  );
  const history = s.global!.history;
  expect(history.at(-1)!.valLoss).toBeLessThan(history[0]!.valLoss);
  await expect(page.getByTestId('round')).toHaveText(/^[1-9]\d*$/);
  await expect(page.getByTestId('receipts')).toContainText(/^[1-9]\d* of [1-9]/);
  await expect(page.getByTestId('credits')).toBeVisible();
  // The page draws on the next animation frame after the state changes: wait for the chart, not a moment.
  const points = (series: string) => async () =>
    Number(await page.locator(`path[data-series="${series}"]`).getAttribute('data-points'));
  await expect.poll(points('global validation loss')).toBeGreaterThanOrEqual(3);
  await expect.poll(points('your training loss')).toBeGreaterThanOrEqual(4);
  await expect(page.getByTestId('speed')).toContainText('tokens/s');
  await screenshot(page, 'receipt', testInfo);
});

/** Presses Pause and waits until the trainer holds before its next step: no GPU work, no update in flight. */
async function pauseAndHold(p: Page): Promise<TabState> {
  await waitForTab(p, (s) => s.training.status === 'training', 150_000);
  await p.click('#start');
  return waitForTab(p, (s) => s.pausedBecause === 'paused by you' && s.training.status === 'holding', 150_000);
}

// biome-ignore lint/correctness/noEmptyPattern: Playwright reads the fixtures from an object pattern; this test needs none.
test('Pause holds the trainer before its next step; Resume continues', async ({}, testInfo) => {
  test.setTimeout(300_000);
  // The trainer's own tests (test/browser/pacing.spec.ts) show that a hold starts no step; here the
  // page's Pause reaches it, and the page says so.
  const held = await pauseAndHold(page);
  await expect(page.locator('#now')).toHaveText('Paused: paused by you.');
  await screenshot(page, 'paused', testInfo);
  await page.click('#start'); // Resume
  await waitForTab(page, (s) => s.training.losses.length > held.training.losses.length, 120_000);
});

test('a reload restores identity, settings and history, and downloads nothing again', async () => {
  test.setTimeout(300_000);
  // Held, the tab has no update in flight: no receipt can arrive between this snapshot and the
  // reload, and the round (and the global weights) stay as they are.
  const before = await pauseAndHold(page);
  const current = seed.manifest.id;
  await page.reload({ waitUntil: 'commit' });
  const after = await waitForTab(page, (s) => s.phase === 'ready' && s.downloads.every((d) => d.done), 120_000);
  expect(after.peerId).toBe(before.peerId);
  expect(after.settings).toEqual(before.settings);
  expect(after.training.receipts).toEqual(before.training.receipts);
  expect(after.training.gpuMs).toBeGreaterThanOrEqual(before.training.gpuMs);
  // The current weights came from IndexedDB: not one byte over the network.
  const d = firstDownload(after);
  expect(d.id).toBe(current);
  expect(d.downloadedBytes).toBe(0);
  expect(d.held).toBe(d.total);
  // Resume: the tab rejoins the run where it stopped.
  await page.click('#start');
  await waitForTab(page, (s) => s.training.status === 'training', 120_000);
});

// biome-ignore lint/correctness/noEmptyPattern: Playwright reads the fixtures from an object pattern; this test needs none.
test('"Try the model" exports the weights to ONNX and continues a prompt with onnxruntime-web', async ({}, testInfo) => {
  test.setTimeout(200_000);
  await page.fill('input[name=prompt]', 'The jury');
  await page.click('#try button');
  const out = page.getByTestId('generated');
  await expect(out).not.toHaveText(/^(Exporting|$)/, { timeout: 150_000 });
  await expect(out).toHaveText(/^The jury[\s\S]+\((webgpu|wasm), ONNX model \d+\.\d+ MiB\)$/);
  await screenshot(page, 'try-the-model', testInfo);
});

test('without WebGPU the page says which browsers work, and still shares weights', async ({ baseURL }, testInfo) => {
  const plain = await chromium.launch({
    executablePath: requireChromium(),
    args: chromiumFlags({ webgpu: false }),
    headless: true,
  });
  try {
    const p = await openTab(plain, tabUrl(baseURL!, seed.url.replace(/\/$/, '')));
    await expect(p.locator('#failure')).toContainText('no WebGPU', { timeout: 60_000 });
    await expect(p.locator('#failure')).toContainText('Chrome');
    await waitForTabs([p], (s) => s.phase === 'ready', 60_000);
    await screenshot(p, 'no-webgpu', testInfo);
  } finally {
    await plain.close();
  }
});

test('an unreachable seed shows a retry countdown', async ({ baseURL }, testInfo) => {
  const p = await openTab(browser, tabUrl(baseURL!, 'http://127.0.0.1:9'));
  await expect(p.locator('#failure')).toContainText(/Cannot reach the seed .* Retrying in \d+ s/, { timeout: 30_000 });
  await screenshot(p, 'seed-unreachable', testInfo);
  await p.context().close();
});
