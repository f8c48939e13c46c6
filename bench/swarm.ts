// `npm run bench -- swarm`: a seed and N tabs fetch the 32 MiB model. Reports the seed's upload
// divided by the model size (client-server would upload N copies) and the seconds until the
// last tab holds the whole model, verified. Runs inside the private network namespace.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '@playwright/test';
import { downloaded, openTab, tabUrl, waitForTabs } from '../e2e/tabs';
import { startSeed } from '../src/seed';
import { chromiumFlags, requireChromium } from '../test/harness/chromium';
import type { BenchResult, BenchRow } from './lib/results';

const TAB_COUNTS = [2, 4, 8];
/** Per case; eight tabs on a 2-core machine take a minute or two. */
const CASE_TIMEOUT_MS = 600_000;

export async function runSwarmBench(pageBase: string, options: { cases?: string[] }): Promise<BenchResult> {
  const counts = options.cases ? options.cases.map((c) => Number(c.replace(/^N=/, ''))) : TAB_COUNTS;
  const rows: BenchRow[] = [];
  for (const n of counts) {
    const runDir = await mkdtemp(join(tmpdir(), 'vgpu-bench-swarm-'));
    const seed = await startSeed({ runDir, model: 'swarm-32mib', appDir: runDir });
    const browser = await chromium.launch({
      executablePath: requireChromium(),
      args: chromiumFlags({ webgpu: false }),
      headless: true,
    });
    try {
      const started = Date.now();
      const url = tabUrl(pageBase, seed.url.replace(/\/$/, ''));
      const tabs = await Promise.all(
        Array.from({ length: n }, () => openTab(browser, url, (line) => console.log(`  ${line}`))),
      );
      const states = await waitForTabs(tabs, downloaded, CASE_TIMEOUT_MS);
      const seconds = (Date.now() - started) / 1000;
      if (states.some((s) => s.downloads[0]?.weightsSha256 !== seed.manifest.value.sha256))
        throw new Error(`N=${n}: a tab assembled different weights`);
      const ratio = seed.status().uploadedBytes / seed.manifest.value.totalBytes;
      console.log(`  N=${n}: seed upload ${ratio.toFixed(2)}x the model, last tab after ${seconds.toFixed(1)} s`);
      rows.push(
        { case: `N=${n}`, impl: 'ours', metric: 'seed_upload_ratio', value: ratio },
        { case: `N=${n}`, impl: 'ours', metric: 'last_tab_s', value: seconds },
        { case: `N=${n}`, impl: 'client-server', metric: 'seed_upload_ratio', value: n },
      );
    } finally {
      await browser.close();
      await seed.stop();
      await rm(runDir, { recursive: true, force: true });
    }
  }
  return {
    adapter: { description: 'none: the swarm benchmark moves bytes, it does not use the GPU' },
    rows,
    notes: [
      `model: the swarm-32mib preset (32.1 MiB, 33 pieces); every tab verifies the assembled vector's sha256 against the seed's`,
      'client-server seed_upload_ratio is N by definition (every tab downloads the whole model from the server); it is not measured',
      'all tabs and the seed share this machine (and its CPUs), inside a private network namespace; WebRTC between tabs',
    ],
  };
}
