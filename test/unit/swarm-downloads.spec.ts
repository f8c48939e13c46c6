// A tab's downloads, alone: pieces already in the store (so nothing goes over a network), fake
// announcements that record what the tab announces and forgets. A tab serves and announces the
// last TAB_SERVED_MANIFESTS weights it downloaded, and forgets older ones; weights it rebuilt from a
// round delta are served only once they match their signed manifest.
import '../../src/seed/promise-shim';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import { type GptConfig, initParams, paramLayout } from '../../src/model';
import { emptyBitfield, setBit } from '../../src/swarm/announce';
import { type Downloads, type DownloadsComponents, startDownloads } from '../../src/swarm/downloads';
import { TAB_SERVED_MANIFESTS } from '../../src/swarm/limits';
import { buildManifest, pieceRange, signManifest, verifyManifest } from '../../src/swarm/manifest';
import { memoryPieceStore, type PieceStore } from '../../src/swarm/pieces';

const CFG: GptConfig = { vocab: 64, context: 16, layers: 1, heads: 2, width: 16 };

/** A tab's downloads with no network (every piece must be in `store`), signed for by `seed`, announcing through `announcements`. */
function offlineDownloads(
  store: PieceStore,
  seed: string,
  announcements: Partial<DownloadsComponents['announcements']>,
): Promise<Downloads> {
  return startDownloads({
    node: { handle: async () => {}, unhandle: async () => {} } as unknown as DownloadsComponents['node'],
    store,
    seed,
    signer: seed,
    announcements: {
      announce: () => {},
      forget: () => {},
      changed: () => {},
      holders: () => new Map(),
      referred: () => {},
      ...announcements,
    },
    reachable: () => false,
    learn: () => {},
    connection: () => Promise.reject(new Error('no network in this test: every piece is in the store')),
    warn: () => {},
  });
}

test('a tab serves and announces its last TAB_SERVED_MANIFESTS weights, and forgets older ones', async () => {
  const key = await generateKeyPair('Ed25519');
  const seed = peerIdFromPrivateKey(key);
  const store = memoryPieceStore();
  const announced: string[] = [];
  const forgotten: string[] = [];
  const downloads = await offlineDownloads(store, seed.toString(), {
    announce: (manifest) => void announced.push(manifest),
    forget: (manifest) => void forgotten.push(manifest),
  });
  const docs = [];
  for (let round = 0; round < TAB_SERVED_MANIFESTS + 2; round++) {
    const weights = initParams(paramLayout(CFG), round + 1);
    const m = await buildManifest(weights, `round ${round}`, CFG);
    const bytes = new Uint8Array(weights.buffer);
    for (const [i, hash] of m.pieces.entries()) await store.put(hash, bytes.slice(...pieceRange(m, i)));
    docs.push(await signManifest(key, seed, m));
  }
  const ids = [];
  for (const doc of docs) ids.push((await downloads.download(doc)).manifest.id);
  expect(announced).toEqual(ids);
  expect(forgotten).toEqual(ids.slice(0, -TAB_SERVED_MANIFESTS));
  // Downloading the oldest served one again makes it the newest: the next oldest then goes first.
  forgotten.length = 0;
  await downloads.download(docs.at(-TAB_SERVED_MANIFESTS)!);
  await downloads.download(docs.at(0)!);
  expect(forgotten).toEqual([ids.at(1 - TAB_SERVED_MANIFESTS)]);
  await downloads.stop();
});

test('weights rebuilt here are served only when every piece matches the signed manifest; a mismatch stores and announces nothing', async () => {
  const key = await generateKeyPair('Ed25519');
  const seed = peerIdFromPrivateKey(key);
  const store = memoryPieceStore();
  const announced: string[] = [];
  const downloads = await offlineDownloads(store, seed.toString(), {
    announce: (manifest, own) => void announced.push(`${manifest} ${own.have.join()}`),
  });
  const weights = initParams(paramLayout(CFG), 9);
  const doc = await signManifest(key, seed, await buildManifest(weights, 'round 1', CFG));
  const wrong = weights.slice();
  wrong[wrong.length - 1]! += 1e-3;
  await expect(downloads.adopt(doc, wrong)).rejects.toThrow(/weights rebuilt here do not match .*'s sha256/);
  const { pieces } = (await verifyManifest(doc, seed)).value;
  expect(announced).toEqual([]);
  for (const hash of pieces) expect(await store.has(hash)).toBe(false);
  const { manifest } = await downloads.adopt(doc, weights);
  // Announced with every piece held.
  const have = emptyBitfield(pieces.length);
  for (let i = 0; i < pieces.length; i++) setBit(have, i);
  expect(announced).toEqual([`${manifest.id} ${have.join()}`]);
  expect(Buffer.compare(Buffer.from((await downloads.held(manifest.id))!.buffer), Buffer.from(weights.buffer))).toBe(0);
  // Pieces lost from the store since: it no longer holds those weights.
  for (const hash of manifest.value.pieces) store.delete(hash);
  expect(await downloads.held(manifest.id)).toBeUndefined();
  await downloads.stop();
});
