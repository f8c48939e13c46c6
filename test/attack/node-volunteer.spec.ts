// A volunteer without a browser (src/volunteer): the tab's participant loop and swarm client in a
// Node process, training on the CPU reference model, against a real seed (tiny model, 2 local steps
// of 1×16 tokens). It joins, is assigned in the reissued first round, fetches the weights, trains,
// and the seed credits its update (the receipt, fetched once the round closed).
import { expect, test } from '@playwright/test';
import { DEFAULT_FED_SETTINGS, type Receipt } from '../../src/fed';
import type { FetchProgress } from '../../src/swarm';
import { runNodeVolunteer } from '../../src/volunteer';
import { startTestSeed } from '../harness/attacker';

test('a Node volunteer completes a round: the seed accepts its update', async () => {
  const hyper = { ...DEFAULT_FED_SETTINGS.hyper, steps: 2, batchSize: 1, context: 16 };
  const { seed, stop: stopSeed } = await startTestSeed({ model: 'tiny', fed: { hyper } });
  const stop = new AbortController();
  let peerId: string | undefined;
  let fetched: FetchProgress | undefined;
  let onReceipt!: (r: Receipt) => void;
  const receipt = new Promise<Receipt>((resolve) => (onReceipt = resolve));
  const running = runNodeVolunteer({
    seedUrl: seed.url,
    signal: stop.signal,
    onEvent: (e) => {
      if (e.type === 'connected') peerId = e.peerId;
      if (e.type === 'fetch-progress') fetched = e.progress;
      if (e.type === 'receipt') onReceipt(e.receipt);
    },
  });
  try {
    // The volunteer's loop runs until aborted: whichever comes first, its receipt or its failure.
    const first = await Promise.race([receipt, running.then(() => undefined)]);
    expect(first).toMatchObject({ peer: peerId, round: 0, tokens: 2 * 16, index: 0 });
    expect(fetched).toMatchObject({
      held: seed.manifest.value.pieces.length,
      total: seed.manifest.value.pieces.length,
    });
    expect(seed.status().acceptedUpdates).toBe(1);
    // Its update closed the round: the next one was published (the receipt comes only then).
    expect(JSON.parse(seed.coordinator.currentRound()?.body ?? '{}').round).toBeGreaterThanOrEqual(1);
  } finally {
    stop.abort();
    await running;
    await stopSeed();
  }
});
