// The seed's /metrics under a stranger's updates: a real seed, an ordinary libp2p peer that sends an
// update header for a round it is not assigned in, and Prometheus's scrape over HTTP.
import { lpStream } from '@libp2p/utils';
import { expect, test } from '@playwright/test';
import { UPDATE_PROTOCOL, verifyRoundManifest } from '../../src/fed';
import type { Seed } from '../../src/seed';
import { fromUtf8, utf8 } from '../../src/swarm';
import { createAttacker, openStream, startTestSeed } from '../harness/attacker';
import { scrapeMetrics } from '../harness/metrics';

let seed: Seed;
let stopSeed: () => Promise<void>;

test.beforeAll(async () => {
  ({ seed, stop: stopSeed } = await startTestSeed({ model: 'tiny' }));
});

test.afterAll(async () => {
  await stopSeed?.();
});

const scrape = () => scrapeMetrics(seed.url);

test("a stranger's refused update is counted by kind, with the bytes it cost, in /metrics", async () => {
  const before = await scrape();
  expect(before.type).toMatch(/^text\/plain; version=0\.0\.4/);
  expect(before.samples.get('vgpu_round')).toBe(0);
  expect(before.samples.get('process_resident_memory_bytes')).toBeGreaterThan(0);
  const refusedBefore = before.samples.get('vgpu_updates_rejected_total{kind="refused"}')!;
  const round = await verifyRoundManifest(seed.coordinator.currentRound()!, seed.peerId);

  const stranger = await createAttacker();
  try {
    const lp = lpStream(await openStream(stranger, seed, UPDATE_PROTOCOL));
    await lp.write(
      utf8(
        JSON.stringify({
          type: 'update',
          round: round.value.round,
          weights: round.value.weightsId,
          bytes: 1024,
          tokens: 1,
          steps: 1,
          lossFirst: 1,
          lossLast: 1,
        }),
      ),
    );
    expect(JSON.parse(fromUtf8((await lp.read()).subarray()))).toEqual({
      refused: 'not assigned in this round (a volunteer that joins is assigned from the next round)',
    });
    const after = (await scrape()).samples;
    expect(after.get('vgpu_updates_rejected_total{kind="refused"}')).toBe(refusedBefore + 1);
    expect(after.get('vgpu_peers')).toBeGreaterThanOrEqual(1);
    // The stranger's handshake and header came in over libp2p; the scrapes came in over HTTP.
    expect(after.get('vgpu_received_bytes_total{transport="libp2p"}')).toBeGreaterThan(
      before.samples.get('vgpu_received_bytes_total{transport="libp2p"}')!,
    );
    expect(after.get('vgpu_received_bytes_total{transport="http"}')).toBeGreaterThan(0);
  } finally {
    await stranger.stop();
  }
});
