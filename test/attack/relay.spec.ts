// Attack: relay reservations exhausted (issue 13, item 4). Throwaway identities each reserve a relay
// slot on the seed (what a tab does to be reachable for WebRTC signalling). A reservation ends when
// its holder hangs up, and one IP address holds at most RELAY_LIMITS.maxReservationsPerIp of them
// (and MAX_CONNECTIONS_PER_IP connections), so a tab from another address still gets one.
import { expect, test } from '@playwright/test';
import type { Seed } from '../../src/seed';
import { MAX_CONNECTIONS_PER_IP, RELAY_LIMITS } from '../../src/swarm';
import { attackers, createAttacker, dialSeed, reserveRelay, startTestSeed } from '../harness/attacker';

// Circuit relay v2 status codes.
const OK = 100;
const PERMISSION_DENIED = 202;

let seed: Seed;
let stopSeed: () => Promise<void>;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  ({ seed, stop: stopSeed } = await startTestSeed({ model: 'tiny' }));
});

test.afterAll(async () => {
  await stopSeed?.();
});

const reservations = () => seed.node.services.relay.reservations.size;

test('identities that reserve a relay slot and hang up leave no reservation behind', async () => {
  for (let wave = 0; wave < 2; wave++) {
    const gang = await attackers(RELAY_LIMITS.maxReservationsPerIp, seed);
    for (const peer of gang.peers) expect(await reserveRelay(peer, seed)).toBe(OK);
    expect(reservations()).toBe(RELAY_LIMITS.maxReservationsPerIp);
    await gang.stop();
    await expect.poll(reservations, { timeout: 30_000 }).toBe(0);
  }
});

test('one address holds at most maxReservationsPerIp reservations; a tab from another address gets one', async () => {
  const gang = await attackers(RELAY_LIMITS.maxReservationsPerIp + 4, seed);
  const tab = await createAttacker();
  try {
    const statuses = [];
    for (const peer of gang.peers) statuses.push(await reserveRelay(peer, seed));
    expect(statuses.filter((s) => s === OK)).toHaveLength(RELAY_LIMITS.maxReservationsPerIp);
    expect(statuses.slice(RELAY_LIMITS.maxReservationsPerIp)).toEqual(Array(4).fill(PERMISSION_DENIED));
    await dialSeed(tab, seed, '127.0.0.2');
    expect(await reserveRelay(tab, seed)).toBe(OK);
  } finally {
    await tab.stop();
    await gang.stop();
  }
});

test('one address holds at most MAX_CONNECTIONS_PER_IP connections; another address still connects', async () => {
  const gang = await attackers(MAX_CONNECTIONS_PER_IP, seed, '127.0.0.3');
  const extra = await createAttacker();
  const tab = await createAttacker();
  try {
    await expect(dialSeed(extra, seed, '127.0.0.3')).rejects.toThrow();
    await dialSeed(tab, seed, '127.0.0.4');
    await gang.stop();
    // Once the gang has left, its address is welcome again.
    await dialSeed(extra, seed, '127.0.0.3');
  } finally {
    await Promise.all([extra.stop(), tab.stop(), gang.stop()]);
  }
});
