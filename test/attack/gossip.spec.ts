// Attacks on the seed's gossip (issue 13, item 12), by ordinary libp2p peers against a real seed:
// - a flood of valid announcements: the seed passes on ANNOUNCE_BUDGET.count of them (its clock
//   stands still here, so the budget does not refill) and the flooder's score falls below
//   gossipsub's graylist threshold;
// - malformed announcements and forged round manifests: none is passed on, and three of them
//   graylist the sender;
// - announcements of weights the seed does not serve: dropped, with no penalty (a late tab may
//   announce last round's).
// An observer (another peer subscribed to the topics) sees what the seed passes on. Each attack ends
// with a marker from an honest peer: messages from one peer are validated in order, so once the
// marker arrives, everything the attacker sent before it has been decided.
import { expect, test } from '@playwright/test';
import type { Seed } from '../../src/seed';
import { ANNOUNCE_BUDGET, ANNOUNCE_TOPIC, encodeAnnouncement, ROUND_TOPIC } from '../../src/swarm';
import { emptyBitfield } from '../../src/swarm/announce';
import { type Attacker, createAttacker, dialSeed, publishToSeed, startTestSeed } from '../harness/attacker';
import { manualClock } from '../harness/manual-clock';

/** gossipsub's default graylist threshold: below it, a peer's RPCs are dropped unread. */
const GRAYLIST_THRESHOLD = -80;

let seed: Seed;
let stopSeed: () => Promise<void>;
let observer: Attacker;
/** Messages the observer got, by originator. */
const heard = new Map<string, { topic: string; data: Uint8Array }[]>();

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  ({ seed, stop: stopSeed } = await startTestSeed({ model: 'tiny', clock: manualClock() }));
  observer = await createAttacker();
  observer.services.pubsub.addEventListener('message', ({ detail: msg }) => {
    if (msg.type !== 'signed') return;
    const from = msg.from.toString();
    heard.set(from, [...(heard.get(from) ?? []), { topic: msg.topic, data: msg.data }]);
  });
  await dialSeed(observer, seed);
  observer.services.pubsub.subscribe(ANNOUNCE_TOPIC);
  observer.services.pubsub.subscribe(ROUND_TOPIC);
});

test.afterAll(async () => {
  await observer?.stop();
  await stopSeed?.();
});

const announcement = (manifest = seed.manifest.id) => {
  const pieces = seed.manifest.value.pieces.length;
  return encodeAnnouncement({ manifest, have: emptyBitfield(pieces), fetching: emptyBitfield(pieces), addrs: [] });
};
const heardFrom = (peer: Attacker) => heard.get(peer.peerId.toString()) ?? [];
/** The seed's gossipsub score of `peer` (the implementation has getScore; the interface type does not). */
const scoreAtSeed = (peer: Attacker) =>
  (seed.node.services.pubsub as unknown as { getScore(peer: string): number }).getScore(peer.peerId.toString());

/** A connected peer subscribed to the announcements, in the seed's mesh (its first message got through). */
async function joined(): Promise<Attacker> {
  const peer = await createAttacker();
  await dialSeed(peer, seed);
  peer.services.pubsub.subscribe(ANNOUNCE_TOPIC);
  return peer;
}

/** Publishes announcements from `peer` until the observer hears one (the mesh is formed). */
async function reachObserver(peer: Attacker): Promise<void> {
  await expect
    .poll(
      async () => {
        await peer.services.pubsub.publish(ANNOUNCE_TOPIC, announcement()).catch(() => {});
        return heardFrom(peer).length;
      },
      { timeout: 30_000 },
    )
    .toBeGreaterThan(0);
}

test('a flood of valid announcements: the seed passes on its budget, then graylists the flooder', async () => {
  const flooder = await joined();
  const honest = await joined();
  try {
    await reachObserver(honest);
    await reachObserver(flooder); // its first messages spend its budget too: the count below is exact
    const flood = 100;
    for (let i = 0; i < flood; i++) await flooder.services.pubsub.publish(ANNOUNCE_TOPIC, announcement());
    await expect.poll(() => scoreAtSeed(flooder)).toBeLessThan(GRAYLIST_THRESHOLD);
    const before = heardFrom(honest).length;
    await honest.services.pubsub.publish(ANNOUNCE_TOPIC, announcement());
    await expect.poll(() => heardFrom(honest).length).toBe(before + 1);
    expect(heardFrom(flooder).length).toBe(ANNOUNCE_BUDGET.count);
    expect(scoreAtSeed(honest)).toBeGreaterThanOrEqual(0);
  } finally {
    await Promise.all([flooder.stop(), honest.stop()]);
  }
});

test('malformed announcements and forged round manifests are not passed on, and graylist their sender', async () => {
  for (const [topic, junk] of [
    [ANNOUNCE_TOPIC, new TextEncoder().encode('{"manifest": "not a sha256"}')],
    [ROUND_TOPIC, new TextEncoder().encode(JSON.stringify({ value: { kind: 'vgpu/round', round: 999 } }))],
  ] as const) {
    const attacker = await joined();
    try {
      // Sent until the seed has seen three (the first may go out before the seed's subscription is known).
      await expect
        .poll(async () => {
          await publishToSeed(attacker, seed, topic, junk).catch(() => {});
          return scoreAtSeed(attacker);
        })
        .toBeLessThan(GRAYLIST_THRESHOLD);
      expect(heardFrom(attacker), topic).toEqual([]);
    } finally {
      await attacker.stop();
    }
  }
});

test('announcements of weights the seed does not serve are dropped without a penalty', async () => {
  const late = await joined();
  try {
    for (let i = 0; i < 3; i++)
      await late.services.pubsub.publish(ANNOUNCE_TOPIC, announcement('0f'.repeat(32))).catch(() => {});
    await reachObserver(late); // the marker: its announcement of the served weights
    expect(heardFrom(late).every((m) => new TextDecoder().decode(m.data).includes(seed.manifest.id))).toBe(true);
    expect(scoreAtSeed(late)).toBeGreaterThanOrEqual(0);
  } finally {
    await late.stop();
  }
});
