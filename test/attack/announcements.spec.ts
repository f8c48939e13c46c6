// Attack: a fetcher starved by one announcement (issue 13, item 1). A stranger announces on the
// gossip topic that it is fetching every piece from the seed and holds none, with a valid-looking
// WebRTC address, and keeps announcing. A volunteer (the real swarm client, here in Node) must still
// get every piece: it leaves pieces to that stranger for COMING_WAIT_MS at most, then ignores its
// claims and asks the seed.
import { generateKeyPair } from '@libp2p/crypto/keys';
import { expect, test } from '@playwright/test';
import type { Seed } from '../../src/seed';
import {
  ANNOUNCE_INTERVAL_MS,
  ANNOUNCE_TOPIC,
  COMING_WAIT_MS,
  encodeAnnouncement,
  memoryPieceStore,
  startSwarmClient,
} from '../../src/swarm';
import { emptyBitfield } from '../../src/swarm/announce';
import { createAttacker, dialSeed, startTestSeed } from '../harness/attacker';

let seed: Seed;
let stopSeed: () => Promise<void>;

test.beforeAll(async () => {
  ({ seed, stop: stopSeed } = await startTestSeed({ model: 'small' }));
});

test.afterAll(async () => {
  await stopSeed?.();
});

test('a stranger announcing that it fetches every piece delays a download COMING_WAIT_MS at most', async () => {
  const liar = await createAttacker();
  const victim = await startSwarmClient({
    seed: seed.info(),
    privateKey: await generateKeyPair('Ed25519'),
    store: memoryPieceStore(),
    localNetwork: true,
  });
  const warnings: string[] = [];
  victim.onWarning = (text) => warnings.push(text);
  const manifest = seed.manifest;
  const pieces = manifest.value.pieces.length;
  const fetching = emptyBitfield(pieces).fill(0xff);
  const lie = encodeAnnouncement({
    manifest: manifest.id,
    have: emptyBitfield(pieces),
    fetching,
    addrs: [`${seed.info().addrs[0]}/p2p-circuit/webrtc/p2p/${liar.peerId}`],
  });
  let heardLie = false;
  victim.node.services.pubsub.addEventListener('message', ({ detail: msg }) => {
    if (msg.topic === ANNOUNCE_TOPIC && msg.type === 'signed' && msg.from.equals(liar.peerId)) heardLie = true;
  });
  let announcing = true;
  try {
    await dialSeed(liar, seed);
    liar.services.pubsub.subscribe(ANNOUNCE_TOPIC);
    // A tab keeps announcements only of weights it fetches or serves, so the victim must take these
    // weights up before it can believe the lie, and must believe it before its fetcher first asks the
    // seed (else it may ask the seed for every piece before the next lie comes): a download that is
    // aborted at once takes them up and fetches nothing.
    await expect(victim.download(manifest.signed, undefined, AbortSignal.abort())).rejects.toThrow();
    // The victim must hear the lie before it starts: wait until the seed's mesh carries it. The
    // victim's announcements are listened to before this listener, so it has kept the lie by then.
    await expect
      .poll(
        async () => {
          await liar.services.pubsub.publish(ANNOUNCE_TOPIC, lie).catch(() => {});
          return heardLie;
        },
        { timeout: 30_000 },
      )
      .toBe(true);
    // Keep lying while the victim downloads (bounded: the loop ends with the download).
    const keepLying = (async () => {
      for (let i = 0; announcing && i < 100; i++) {
        await liar.services.pubsub.publish(ANNOUNCE_TOPIC, lie).catch(() => {});
        await new Promise((r) => setTimeout(r, ANNOUNCE_INTERVAL_MS / 3));
      }
    })();
    const started = Date.now();
    const download = await victim.download(manifest.signed);
    announcing = false;
    await keepLying;
    expect(download.progress.held).toBe(pieces);
    expect(download.progress.fromSeedBytes).toBe(manifest.value.totalBytes);
    expect(Date.now() - started).toBeGreaterThanOrEqual(COMING_WAIT_MS); // it did hold off, then gave up
    expect(warnings.some((w) => w.includes('said it was fetching piece'))).toBe(true);
  } finally {
    announcing = false;
    await victim.stop();
    await liar.stop();
  }
});
