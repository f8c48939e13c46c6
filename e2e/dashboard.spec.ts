// The seed's dashboard (/dashboard) in headless Chromium, against a real seed that serves a fresh
// build of the app while a Node volunteer trains rounds: the page shows the run's configuration and
// fills its charts, rounds, contributors, updates and traffic as rounds complete, without a reload;
// it fits a phone's screen, in the dark colour scheme and back; and one address's streams past
// DASHBOARD_MAX_STREAMS_PER_IP are refused while another's still stream. Screenshots go to
// test-screens/ and are attached to the tests.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, type Page, test } from '@playwright/test';
import { DEFAULT_FED_SETTINGS } from '../src/fed';
import { DASHBOARD_MAX_STREAMS_PER_IP, type Seed } from '../src/seed';
// Also gives this process a WebSocket client, which the Node volunteer dials with (Node 20 has none).
import { startTestSeed } from '../test/harness/attacker';
import { startVolunteer } from '../test/harness/node-volunteer';
import { screenshot } from './screens';

test.describe.configure({ mode: 'serial' });

let buildDir: string;
let seed: Seed;
let stopSeed: () => Promise<void>;
let volunteer: ReturnType<typeof startVolunteer>;

test.beforeAll(async () => {
  test.setTimeout(120_000);
  buildDir = await mkdtemp(join(tmpdir(), 'vgpu-dashboard-'));
  const build = spawnSync('npx', ['vite', 'build', '--outDir', join(buildDir, 'dist'), '--logLevel', 'error'], {
    encoding: 'utf8',
  });
  expect(build.status, build.stderr).toBe(0);
  // Rounds the seed's CPU verifies in moments: 2 local steps of 1 × 16 tokens.
  ({ seed, stop: stopSeed } = await startTestSeed({
    model: 'tiny',
    appDir: join(buildDir, 'dist'),
    fed: { hyper: { ...DEFAULT_FED_SETTINGS.hyper, steps: 2, batchSize: 1, context: 16 } },
  }));
  volunteer = startVolunteer(seed.url);
});

test.afterAll(async () => {
  await volunteer?.stop();
  await stopSeed?.();
  await rm(buildDir, { recursive: true, force: true });
});

const dashboardUrl = () => new URL('/dashboard', seed.url).href;
const chartPoints = async (page: Page, chart: string) =>
  Number((await page.locator(`#${chart}`).getAttribute('data-points')) ?? 0);

test('the dashboard shows the run and follows it live as rounds complete, without a reload', async ({
  browser,
}, testInfo) => {
  test.setTimeout(240_000);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(dashboardUrl());
  await expect(page.locator('#connection')).toHaveText(/^Live/);
  const model = seed.manifest.value.model;
  await expect(page.getByTestId('config-model')).toContainText(`${model.layers} layers, width ${model.width}`);
  await expect(page.getByTestId('config-data')).toContainText('the Brown corpus');
  await expect(page.getByTestId('config-seed')).toHaveText(seed.peerId);
  // A mark on this document: gone if the page were reloaded.
  await page.evaluate(() => document.documentElement.setAttribute('data-loaded-once', ''));
  await expect.poll(() => chartPoints(page, 'loss-chart')).toBeGreaterThanOrEqual(1); // the initial weights' loss
  const atLoad = await chartPoints(page, 'loss-chart');

  // Two more rounds complete while the page is open: both charts grow.
  await expect.poll(() => chartPoints(page, 'loss-chart'), { timeout: 180_000 }).toBeGreaterThanOrEqual(atLoad + 2);
  await expect.poll(() => chartPoints(page, 'speed-chart'), { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
  await expect(page.locator('html[data-loaded-once]')).toHaveCount(1);

  const peer = volunteer.seen.peerId!;
  await expect(page.locator(`[data-testid=contributor][data-peer="${peer}"]`)).toContainText(
    /[1-9][\d,]* tokens in \d+ rounds?/,
  );
  const firstRound = page.locator('[data-testid=timeline-row][data-round="0"]');
  await expect(firstRound.getByTestId('closed')).toHaveText(/^\+\d+:\d\d$/);
  await expect(firstRound.getByTestId('checkpointed')).toHaveText(/^\+\d+:\d\d$/);
  await expect(page.getByTestId('updates-accepted')).toHaveText(/^[1-9]/);
  await expect(page.getByTestId('rejected-unverified')).toHaveText(/^\d+$/);
  await expect(page.getByTestId('volunteers-online')).toHaveText('1');
  await expect(page.getByTestId('tokens')).toHaveText(/^[1-9]/);
  await expect(page.getByTestId('bytes-out')).toHaveText(/(KiB|MiB|GiB)$/);
  await expect(page.getByTestId('bytes-in')).toHaveText(/(KiB|MiB|GiB)$/);
  await expect(page.getByTestId('deadline')).toHaveText(/^(in \d+:\d\d|passed; closing)$/);
  await screenshot(page, 'dashboard', testInfo);
  await page.close();
});

test("on a phone's screen in the dark scheme the dashboard fits the width, and follows a change of scheme", async ({
  browser,
}, testInfo) => {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    colorScheme: 'dark',
  });
  const page = await context.newPage();
  await page.goto(dashboardUrl());
  await expect(page.locator('#connection')).toHaveText(/^Live/);
  await expect(page.getByTestId('contributor').first()).toBeVisible();
  await expect(page.locator('#loss-chart')).toHaveAttribute('data-scheme', 'dark');
  const background = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  const [r, g, b] = background.match(/\d+/g)!.map(Number);
  expect(Math.max(r!, g!, b!), background).toBeLessThan(64);
  // Nothing is wider than the screen: wide tables scroll inside their panels.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  const chart = await page.locator('#loss-chart canvas').boundingBox();
  expect(chart!.width).toBeGreaterThan(200);
  expect(chart!.x + chart!.width).toBeLessThanOrEqual(390);
  await screenshot(page, 'dashboard-phone-dark', testInfo);

  await page.emulateMedia({ colorScheme: 'light' });
  await expect(page.locator('#loss-chart')).toHaveAttribute('data-scheme', 'light');
  await context.close();
});

/** Opens the event stream from `localAddress`: its status, and (when 200) its first chunk and a way to close it. */
function openStream(localAddress: string): Promise<{ status: number; first: string; close(): void }> {
  return new Promise((resolve, reject) => {
    const request = get(new URL('/dashboard/events', seed.url), { localAddress, agent: false }, (res) => {
      const close = () => request.destroy();
      if (res.statusCode !== 200) {
        res.resume();
        close();
        resolve({ status: res.statusCode ?? 0, first: '', close });
      } else res.once('data', (chunk: Buffer) => resolve({ status: 200, first: chunk.toString('utf8'), close }));
    });
    request.once('error', reject);
  });
}

test("one address's streams past DASHBOARD_MAX_STREAMS_PER_IP are refused, its page says so and connects once one closes; another address streams", async ({
  browser,
}, testInfo) => {
  test.setTimeout(90_000);
  // The browser's address (127.0.0.1) holds every stream it may (once the earlier tests' pages' are closed).
  const held: Awaited<ReturnType<typeof openStream>>[] = [];
  try {
    await expect
      .poll(async () => {
        const next = await openStream('127.0.0.1');
        if (next.status === 200) held.push(next);
        return held.length;
      })
      .toBe(DASHBOARD_MAX_STREAMS_PER_IP);
    for (const stream of held) expect(stream.first).toMatch(/^event: run\ndata: \{/);
    expect((await openStream('127.0.0.1')).status).toBe(429);
    const page = await browser.newPage();
    // The page's own clock, moved by the test: its next try comes when the test says, not seconds later.
    await page.clock.install();
    await page.goto(dashboardUrl());
    const refused = /^Not connected: .* Trying again in (\d+):(\d\d)\.$/;
    await expect(page.locator('#connection')).toHaveText(refused);
    await screenshot(page, 'dashboard-refused', testInfo);
    // Another address (127.0.0.0/8 is all this machine) has streams of its own.
    const other = await openStream('127.0.0.2');
    other.close();
    expect(other.status).toBe(200);
    // A stream closed frees its slot: the page's next try gets it. Each look moves the page's clock to
    // the try it announces (the seed may see the close after the page's first try).
    held.shift()!.close();
    await expect
      .poll(async () => {
        const text = (await page.locator('#connection').textContent()) ?? '';
        const wait = text.match(refused);
        if (wait) await page.clock.fastForward((Number(wait[1]) * 60 + Number(wait[2]) + 1) * 1000);
        return text;
      })
      .toMatch(/^Live/);
    await expect(page.getByTestId('config-seed')).toHaveText(seed.peerId);
    await page.close();
  } finally {
    for (const stream of held) stream.close();
  }
});
