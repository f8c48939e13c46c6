// A volunteer without a browser (src/volunteer): the tab's participant loop and swarm client in a
// Node process, training on the CPU reference model, against a real seed (tiny model, 2 local steps
// of 1×16 tokens). It joins, is assigned in the reissued first round, fetches the weights, trains,
// and the seed credits its update (the receipt, fetched once the round closed). Beside it, an
// attacker peer that does the work and sends it sign-flipped is caught by the seed's verification.
import { expect, test } from '@playwright/test';
import {
  assignmentRequest,
  creditedTokens,
  DEFAULT_FED_SETTINGS,
  decodeUpdate,
  encodeUpdate,
  type Receipt,
  requestJoin,
  requestReceipts,
  sendUpdate,
  UPDATE_PROTOCOL,
  verifyRoundManifest,
} from '../../src/fed';
import { loadOrCreateData } from '../../src/seed/data';
import type { FetchProgress } from '../../src/swarm';
import { createCpuTrainer, runNodeVolunteer } from '../../src/volunteer';
import { createAttacker, openStream, startTestSeed } from '../harness/attacker';

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

test("a volunteer that sends its own round's work sign-flipped earns nothing; the honest one beside it is credited", async () => {
  test.setTimeout(180_000);
  const hyper = { ...DEFAULT_FED_SETTINGS.hyper, steps: 2, batchSize: 1, context: 16 };
  const { seed, runDir, stop: stopSeed } = await startTestSeed({ model: 'tiny', fed: { hyper } });
  const attacker = await createAttacker();
  const flipper = attacker.peerId.toString();
  const stop = new AbortController();
  let honest: string | undefined;
  let onReceipt!: (r: Receipt) => void;
  const receipt = new Promise<Receipt>((resolve) => (onReceipt = resolve));
  const running = runNodeVolunteer({
    seedUrl: seed.url,
    signal: stop.signal,
    onEvent: (e) => {
      if (e.type === 'connected') honest = e.peerId;
      if (e.type === 'receipt') onReceipt(e.receipt);
    },
  });
  try {
    // The flipper trains its assignment honestly (the CPU reference on the run's data, from the
    // round's weights), then sends the update negated: the same norm, the opposite direction.
    const { dataset } = await loadOrCreateData(runDir, seed.manifest.value.model.vocab);
    const trainer = createCpuTrainer();
    await trainer.init({ config: seed.manifest.value.model, batchSize: hyper.batchSize, context: hyper.context });
    await trainer.loadData(dataset.train, dataset.validation);
    expect(await requestJoin(await openStream(attacker, seed, UPDATE_PROTOCOL))).toBe(0);
    const openRound = async () => (await verifyRoundManifest(seed.coordinator.currentRound(), seed.peerId)).value;
    // Both join before the empty round is issued again (MIN_REISSUE_MS after the first issue): both are in it.
    await expect
      .poll(async () => Object.keys((await openRound()).assignments).sort(), { timeout: 60_000 })
      .toEqual([flipper, honest].sort());
    const m = await openRound();
    await trainer.loadParams(seed.weights);
    const { update } = await trainer.train(assignmentRequest(m, m.assignments[flipper]!));
    const flipped = encodeUpdate(
      decodeUpdate(update, seed.weights.length).map((x) => -x),
      { format: 'int8', blockSize: m.codec.blockSize },
    );
    const header = {
      type: 'update' as const,
      round: m.round,
      weights: m.weightsId,
      tokens: creditedTokens(m, flipper),
      steps: hyper.steps,
      lossFirst: 5,
      lossLast: 4,
    };
    expect((await sendUpdate(await openStream(attacker, seed, UPDATE_PROTOCOL), header, flipped)).type).toBe(
      'received',
    );

    // The honest volunteer's receipt comes once the round closed; the flipper's update was not credited.
    const credited = await Promise.race([receipt, running.then(() => undefined)]);
    expect(credited).toMatchObject({ peer: honest, round: 0 });
    const reply = await requestReceipts(await openStream(attacker, seed, UPDATE_PROTOCOL), 0);
    expect(reply.receipts).toEqual([]);
    expect(reply.rejected).toEqual([
      { round: 0, reason: expect.stringMatching(/^the loss on its own batches fell by -/) },
    ]);
    expect(seed.status()).toMatchObject({ acceptedUpdates: 1, rejectedUpdates: 1 });
  } finally {
    stop.abort();
    await running;
    await attacker.stop();
    await stopSeed();
  }
});
