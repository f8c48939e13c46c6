// The README's promise: `npm start` builds the page and starts a seed that prints its URL; a tab
// opened there joins and downloads the default model; Ctrl-C stops the seed cleanly. Runs the
// real CLI (bin/vgpu-seed.js) as a child process on a fresh build and run folder.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { type SeedProcess, startSeedProcess } from './seed-process';
import { downloaded, firstDownload, openTab, waitForTab } from './tabs';

let dir: string;
let seed: SeedProcess | undefined;

test.beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vgpu-cli-'));
  const build = spawnSync('npx', ['vite', 'build', '--outDir', join(dir, 'dist'), '--logLevel', 'error'], {
    encoding: 'utf8',
  });
  expect(build.status, build.stderr).toBe(0);
});

test.afterAll(async () => {
  seed?.child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

test('the seed CLI prints a URL, a tab opened there downloads the default model, Ctrl-C stops it', async ({
  browser,
}) => {
  seed = startSeedProcess(['--run', join(dir, 'run'), '--app', join(dir, 'dist'), '--port', '0', '--p2p-port', '0']);
  const [, url] = await seed.waitFor(/Volunteer page: (http:\/\/\S+)/, 60_000);

  const tab = await openTab(browser, url!);
  const state = await waitForTab(tab, downloaded, 60_000);
  const status = (await (await fetch(new URL('/status.json', url))).json()) as {
    manifest: { id: string; totalBytes: number };
  };
  expect(firstDownload(state).id).toBe(status.manifest.id);
  expect(firstDownload(state).weightsSha256).toMatch(/^[0-9a-f]{64}$/);
  expect(state.peers.some((p) => p.kind === 'seed')).toBe(true);
  expect((await stat(join(dir, 'run', 'peer-key'))).mode & 0o777).toBe(0o600);

  seed.child.kill('SIGINT');
  expect(await seed.exited).toBe(0);
  seed = undefined;
});
