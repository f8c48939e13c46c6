// A tab whose helper seed disappears: the volunteer page, given a helper's page, connects through the
// helper (its weights, rounds and signalling come from there); when the helper goes, the tab waits
// HELPER_FAILOVER_MS for it, says so, and connects again from the root's page (the helper's
// /swarm.json names it as `upstream`). A real root and helper in this process, a tab in Chromium.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import { DEFAULT_FED_SETTINGS } from '../src/fed';
import { startHelper } from '../src/helper';
import { startSeed } from '../src/seed';
import { loadOrCreatePeerKey } from '../src/seed/files';
import { HELPER_FAILOVER_MS } from '../src/tab';
import { openTab, tabUrl, waitForTab } from './tabs';

test("a tab given a helper's page goes back to the root's when the helper is gone, and says why", async ({
  browser,
  baseURL,
}) => {
  test.setTimeout(180_000);
  const rootDir = await mkdtemp(join(tmpdir(), 'vgpu-root-'));
  const helperDir = await mkdtemp(join(tmpdir(), 'vgpu-helper-'));
  const helperId = peerIdFromPrivateKey(await loadOrCreatePeerKey(helperDir, false)).toString();
  const hyper = { ...DEFAULT_FED_SETTINGS.hyper, context: 16 };
  const root = await startSeed({
    runDir: rootDir,
    appDir: rootDir,
    model: 'tiny',
    helpers: [helperId],
    fed: { hyper },
  });
  const helper = await startHelper({ runDir: helperDir, upstream: root.url, appDir: helperDir });
  try {
    // Pages are named by their origins.
    const [helperPage, rootPage] = [helper.url, root.url].map((u) => new URL(u).origin);
    const page = await openTab(browser, tabUrl(baseURL!, helperPage!));
    // The tab is linked to the helper, not to the root.
    const linked = await waitForTab(
      page,
      (s) => s.seedPage === helperPage && s.peers.some((p) => p.id === helper.peerId && p.kind === 'seed'),
      60_000,
    );
    const tab = peerIdFromString(linked.peerId!);
    expect(root.node.getConnections(tab)).toEqual([]);
    const gone = Date.now();
    await helper.stop();
    const moved = await waitForTab(page, (s) => s.seedPage === rootPage, HELPER_FAILOVER_MS + 60_000);
    expect(Date.now() - gone).toBeGreaterThanOrEqual(HELPER_FAILOVER_MS);
    expect(moved.warnings.join('\n')).toContain(`the helper at ${helperPage} is gone: drawing again from ${rootPage}`);
    // The same identity (kept in IndexedDB), now linked to the root.
    expect(moved.peerId).toBe(linked.peerId);
    await expect.poll(() => root.node.getConnections(tab).length, { timeout: 30_000 }).toBeGreaterThan(0);
  } finally {
    await helper.stop().catch(() => {});
    await root.stop();
    await rm(rootDir, { recursive: true, force: true });
    await rm(helperDir, { recursive: true, force: true });
  }
});
