import { expect, type TestInfo, test } from '@playwright/test';
import type { SignedDocument } from '../../src/swarm';
import { inPage } from '../harness/page';
import type { ManifestResult, PeerKeyResult, PiecesResult, ProgressResult } from './storage.cases';

const CASES = '/test/browser/storage.cases.ts';

/** A database name no other test (or earlier run) uses. */
const dbName = (info: TestInfo) => `vgpu-test-${info.testId}-${Date.now()}`;

test.beforeEach(async ({ page }) => {
  // IndexedDB needs no GPU: the plain harness page will do.
  await page.goto('/test/browser/harness.html');
});

test('pieces: put, get and has by hash; overwrite; a view into a larger buffer reads back as its own bytes; kept across reopen', async ({
  page,
}, info) => {
  const r = await inPage<PiecesResult>(page, CASES, 'piecesCase', { db: dbName(info) });
  expect(r.got[0]).toEqual([1, 2, 3]);
  expect(r.got[1]).toEqual(Array.from({ length: 1000 }, (_, i) => i & 0xff));
  expect(r.has).toEqual([true, true, false]);
  expect(r.missingIsUndefined).toBe(true);
  expect(r.overwritten).toEqual([9]);
  expect(r.view).toEqual([100, 101, 102, 103]); // (IndexedDB keeps the whole backing buffer: r.viewBufferBytes is 1 MiB)
  expect(r.afterReopen).toEqual([0, 1, 2, 3, 4]);
});

test('loadOrCreatePeerKey: one Ed25519 key per database, the same across calls and reopenings', async ({
  page,
}, info) => {
  const r = await inPage<PeerKeyResult>(page, CASES, 'peerKeyCase', { db: dbName(info) });
  expect(r.type).toBe('Ed25519');
  expect(r.ids[0]).toMatch(/^12D3KooW/);
  expect(new Set(r.ids).size).toBe(1);
  expect(r.publicKeys[0]).toHaveLength(32);
  expect(r.publicKeys[1]).toEqual(r.publicKeys[0]);
  expect(r.publicKeys[2]).toEqual(r.publicKeys[0]);
  expect(r.signs).toBe(true);
  expect(r.otherId).not.toBe(r.ids[0]);
});

test('saveManifest stores the signed document under its id with the time; saving again replaces it', async ({
  page,
}, info) => {
  const signed: SignedDocument = { body: '{"kind":"vgpu/weights"}', signer: '12D3KooWExample', signature: 'c2ln' };
  const r = await inPage<ManifestResult>(page, CASES, 'manifestCase', {
    db: dbName(info),
    id: 'ab'.repeat(32),
    signed,
  });
  expect(r.saved?.signed).toEqual(signed);
  expect(r.saved?.savedAt).toBeGreaterThanOrEqual(r.before);
  expect(r.saved?.savedAt).toBeLessThanOrEqual(r.after);
  expect(r.replaced).toEqual({ ...signed, body: '{}' });
});

test('progress records: missing reads undefined, set/get round trips structured values, kept across reopen', async ({
  page,
}, info) => {
  const r = await inPage<ProgressResult>(page, CASES, 'progressCase', { db: dbName(info) });
  expect(r.missing).toBe(true);
  expect(r.value).toEqual({ round: 3, losses: [2.5, 2.25], done: false });
  expect(r.overwritten).toEqual({ round: 4 });
  expect(r.afterReopen).toEqual({ round: 4 });
  expect(r.others).toEqual([7, 'tab']);
});
