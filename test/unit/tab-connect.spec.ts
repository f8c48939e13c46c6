// A root that lists helper seeds spreads its volunteers over itself and them (src/tab/connect.ts's
// pickSeedPage), and /swarm.json's helper fields are checked as they are read (parseSeedInfo).
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import { MAX_LISTED_HELPERS, parseSeedInfo, runSigner, toBase64 } from '../../src/swarm';
import { pickSeedPage } from '../../src/tab/connect';
import { createRandom } from '../../src/util/random';

async function info(extra: Record<string, unknown> = {}) {
  const key = await generateKeyPair('Ed25519');
  const peerId = peerIdFromPrivateKey(key).toString();
  return parseSeedInfo({
    peerId,
    publicKey: toBase64(publicKeyToProtobuf(key.publicKey)),
    addrs: [],
    manifests: [],
    ...extra,
  });
}

test('pickSeedPage spreads volunteers evenly over the root and its helpers; without helpers, the root', async () => {
  const root = 'http://root.example';
  const helpers = [1, 2, 3].map((k) => ({ peerId: `h${k}`, url: `http://helper${k}.example` }));
  const random = createRandom(5);
  const counts = new Map<string, number>();
  for (let i = 0; i < 4000; i++) {
    const page = pickSeedPage(root, { peerId: 'r', publicKey: '', addrs: [], manifests: [], helpers }, random);
    counts.set(page, (counts.get(page) ?? 0) + 1);
  }
  expect([...counts.keys()].sort()).toEqual([root, ...helpers.map((h) => h.url)].sort());
  // 1000 expected each; a binomial spread of ±27: ±100 is over 3.5 sigma.
  for (const n of counts.values()) expect(Math.abs(n - 1000)).toBeLessThan(100);
  expect(pickSeedPage(root, await info(), random)).toBe(root);
});

test('parseSeedInfo: a helper names its root as the run signer; a root lists helpers, malformed ones dropped', async () => {
  const root = await info();
  const helper = await info({ run: root.peerId });
  expect(runSigner(helper)).toBe(root.peerId);
  expect(runSigner(root)).toBe(root.peerId);
  await expect(info({ run: 'not a peer id' })).rejects.toThrow();
  const listed = await info({
    helpers: [
      { peerId: 'a', url: 'http://a.example' },
      { peerId: 'b', url: 'javascript:alert(1)' },
      { url: 'http://c.example' },
      ...Array.from({ length: 100 }, (_, k) => ({ peerId: `x${k}`, url: `https://x${k}.example` })),
    ],
  });
  expect(listed.helpers?.[0]).toEqual({ peerId: 'a', url: 'http://a.example' });
  expect(listed.helpers?.some((h) => h.peerId === 'b')).toBe(false);
  expect(listed.helpers).toHaveLength(MAX_LISTED_HELPERS);
});
