// Attacks on who trains and what counts (issue 14), by ordinary libp2p peers against a real seed
// whose time the test moves:
// - A sybil flood: 64 throwaway identities from one address join before an honest newcomer from
//   another. The roster (64 slots) used to be the first 64 joiners; now the honest one is assigned.
// - An update in another codec than the round's (fp32 in an int4 or int8 round, dense or sparse
//   enough to fit the round's size) is refused, from its header or its body, and credits nothing.
import { expect, test } from '@playwright/test';
import {
  DEFAULT_FED_SETTINGS,
  encodedSize,
  encodeUpdate,
  MIN_REISSUE_MS,
  requestJoin,
  requestReceipts,
  sendUpdate,
  UPDATE_PROTOCOL,
  UpdateRefusedError,
  verifyRoundManifest,
} from '../../src/fed';
import type { Seed } from '../../src/seed';
import { type Attacker, attackers, createAttacker, dialSeed, openStream, startTestSeed } from '../harness/attacker';
import { type ManualClock, manualClock } from '../harness/manual-clock';

let seed: Seed;
let clock: ManualClock;
let stopSeed: () => Promise<void>;
let honest: Attacker;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  clock = manualClock();
  ({ seed, stop: stopSeed } = await startTestSeed({ model: 'tiny', clock }));
  honest = await createAttacker();
  await dialSeed(honest, seed, '127.0.0.3');
});

test.afterAll(async () => {
  await honest?.stop();
  await stopSeed?.();
});

const openRound = async () => (await verifyRoundManifest(seed.coordinator.currentRound(), seed.peerId)).value;

test('64 idle identities from one address joined first: an honest newcomer from another is assigned', async () => {
  test.setTimeout(180_000);
  expect(DEFAULT_FED_SETTINGS.shardCount).toBe(64);
  const sybils = await attackers(64, seed, '127.0.0.2');
  try {
    for (const sybil of sybils.peers) await requestJoin(await openStream(sybil, seed, UPDATE_PROTOCOL));
    await requestJoin(await openStream(honest, seed, UPDATE_PROTOCOL));
    clock.advance(MIN_REISSUE_MS); // the empty round is issued again, with the joiners
    await expect.poll(async () => Object.keys((await openRound()).assignments).length).toBe(64);
    const m = await openRound();
    expect(honest.peerId.toString() in m.assignments).toBe(true);
    // The rest went to the sybils, one address's newcomers after everyone else's.
    expect(Object.keys(m.assignments).filter((p) => p !== honest.peerId.toString())).toHaveLength(63);
  } finally {
    await sybils.stop();
  }
});

test("an update in another codec than the round's is refused, and credits nothing", async () => {
  const m = await openRound();
  expect(m.codec.format).not.toBe('fp32');
  const refusal = `bad update: format fp32, the round asks for ${m.codec.format}`;
  const base = {
    type: 'update' as const,
    round: m.round,
    weights: m.weightsId,
    tokens: 1,
    steps: 1,
    lossFirst: 1,
    lossLast: 1,
  };
  const vector = new Float32Array(seed.weights.length).map((_, i) => (i % 2 ? 1e-3 : -1e-3));
  // Dense fp32: 4× or 8× the round's bytes, refused from its header.
  const dense = encodeUpdate(vector, { format: 'fp32', blockSize: 256 });
  await expect(sendUpdate(await openStream(honest, seed, UPDATE_PROTOCOL), base, dense)).rejects.toThrow(
    UpdateRefusedError,
  );
  // Sparse fp32 that fits the round's size: admitted from its header, rejected from its body.
  const sparse = encodeUpdate(vector, { format: 'fp32', blockSize: 256, density: 0.1 });
  expect(sparse.length).toBeLessThan(encodedSize(vector.length, m.codec));
  const outcome = await sendUpdate(await openStream(honest, seed, UPDATE_PROTOCOL), base, sparse);
  expect(outcome).toEqual({ type: 'rejected', reason: refusal });
  const reply = await requestReceipts(await openStream(honest, seed, UPDATE_PROTOCOL), m.round);
  expect(reply.receipts).toEqual([]);
  expect(reply.rejected).toEqual([{ round: m.round, reason: refusal }]);
});
