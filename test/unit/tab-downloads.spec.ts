// The weights a joining tab downloads, with a fake swarm client: a manifest the seed retires while
// the tab downloads it (rounds closing faster than a slow tab) is dropped from the page, and the tab
// asks the seed again what it serves, at most MAX_OFFER_REFRESHES times.
import '../../src/seed/promise-shim';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import { type GptConfig, initParams, paramLayout } from '../../src/model';
import { ManifestRetiredError } from '../../src/swarm/fetcher';
import { buildManifest, signManifest, verifyManifest } from '../../src/swarm/manifest';
import type { SignedDocument } from '../../src/swarm/signed';
import { downloadOfferedWeights } from '../../src/tab/downloads';
import { MAX_OFFER_REFRESHES } from '../../src/tab/limits';
import type { TabEvent } from '../../src/tab/state';

const CFG: GptConfig = { vocab: 64, context: 16, layers: 1, heads: 2, width: 16 };

/** Signed manifests of `count` distinct weight vectors, and the seed's peer id. */
async function manifests(count: number) {
  const key = await generateKeyPair('Ed25519');
  const seed = peerIdFromPrivateKey(key);
  const docs: { signed: SignedDocument; weights: Float32Array; id: string }[] = [];
  for (let i = 0; i < count; i++) {
    const weights = initParams(paramLayout(CFG), i + 1);
    const signed = await signManifest(key, seed, await buildManifest(weights, `round ${i}`, CFG));
    docs.push({ signed, weights, id: (await verifyManifest(signed, seed)).id });
  }
  return { seed: seed.toString(), docs };
}

/** Runs downloadOfferedWeights against a seed that serves only `serving()` and offers `offered()`. */
async function run(
  seed: string,
  joinList: SignedDocument[],
  serving: () => Set<string>,
  offered: () => SignedDocument[],
) {
  const events: TabEvent[] = [];
  const saved: string[] = [];
  let refreshes = 0;
  const client = {
    seed: { peerId: seed, publicKey: '', addrs: [], manifests: joinList },
    download: async (doc: SignedDocument) => {
      const manifest = await verifyManifest(doc, seed);
      if (!serving().has(manifest.id)) throw new ManifestRetiredError(manifest.id);
      const weights = initParams(paramLayout(CFG), 1);
      return {
        manifest,
        weights,
        progress: {
          held: 1,
          total: 1,
          downloadedBytes: 0,
          fromSeedBytes: 0,
          fromPeersBytes: 0,
          corruptPieces: 0,
          bannedPeers: [],
        },
      };
    },
  } as unknown as Parameters<typeof downloadOfferedWeights>[0]['client'];
  await downloadOfferedWeights({
    client,
    storage: {
      saveManifest: async (id) => void saved.push(id),
      getProgress: async () => undefined,
      setProgress: async () => {},
    },
    offered: async () => {
      refreshes++;
      return offered();
    },
    emit: (e) => events.push(e),
  });
  return { events, saved, refreshes };
}

test('a manifest retired mid-download is dropped, and the tab downloads what the seed serves now', async () => {
  const { seed, docs } = await manifests(4);
  // Joined when the seed served 1 and 0; by the time the tab asks, it serves 3 and 2.
  const now = new Set([docs[3]!.id, docs[2]!.id]);
  const { events, saved, refreshes } = await run(
    seed,
    [docs[1]!.signed, docs[0]!.signed],
    () => now,
    () => [docs[3]!.signed, docs[2]!.signed],
  );
  expect(refreshes).toBe(1);
  expect(saved).toEqual([docs[3]!.id, docs[2]!.id]);
  expect(events.filter((e) => e.type === 'download-dropped')).toEqual([
    { type: 'download-dropped', id: docs[1]!.id },
    { type: 'download-dropped', id: docs[0]!.id },
  ]);
  expect(events.filter((e) => e.type === 'warning')).toEqual([]);
  expect(events.at(-1)).toEqual({ type: 'downloads-done' });
});

test('a seed that retires everything it offers is asked again MAX_OFFER_REFRESHES times, then the tab is ready anyway', async () => {
  const { seed, docs } = await manifests(1);
  const { events, saved, refreshes } = await run(
    seed,
    [docs[0]!.signed],
    () => new Set(),
    () => [docs[0]!.signed],
  );
  expect(refreshes).toBe(MAX_OFFER_REFRESHES);
  expect(saved).toEqual([]);
  expect(events.filter((e) => e.type === 'download-dropped')).toHaveLength(MAX_OFFER_REFRESHES + 1);
  expect(events.at(-1)).toEqual({ type: 'downloads-done' });
});

test('a manifest already downloaded is not downloaded again after a refresh', async () => {
  const { seed, docs } = await manifests(3);
  // Offered 1 and 0: 1 downloads, 0 is retired; the seed now offers 2 and 1.
  const { saved, refreshes } = await run(
    seed,
    [docs[1]!.signed, docs[0]!.signed],
    () => new Set([docs[2]!.id, docs[1]!.id]),
    () => [docs[2]!.signed, docs[1]!.signed],
  );
  expect(refreshes).toBe(1);
  expect(saved).toEqual([docs[1]!.id, docs[2]!.id]);
});
