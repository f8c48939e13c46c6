// Attack: a volunteer inflating what its receipt says it gave (issue 19). It does its round's
// honest work, then claims a trillion milliseconds of GPU time and a discrete GPU in its update
// header (and, first, a billion tokens, which the header check refuses). Against a real seed with a grid schedule: its receipt credits the
// tokens and FLOPs of its assignment, never the claim, caps the busy time by the time since the
// round was issued, and derives the energy and gCO₂ from that capped time.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import {
  ADAPTER_POWER,
  creditedTokens,
  DEFAULT_FED_SETTINGS,
  requestJoin,
  requestReceipts,
  sendUpdate,
  trainingFlops,
  UPDATE_PROTOCOL,
  verifyReceipt,
  verifyRoundManifest,
} from '../../src/fed';
import { createAttacker, honestUpdate, openStream, startTestSeed } from '../harness/attacker';

const HYPER = { ...DEFAULT_FED_SETTINGS.hyper, steps: 2, batchSize: 1, context: 16 };
/** The grid's intensity in region DE for the hours around now. */
const INTENSITY = 400;

test('an inflated token claim is refused; an inflated GPU time earns the assignment only, its busy time capped by the round', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vgpu-impact-'));
  const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  const rows = [-1, 0, 1, 2].map(
    (h) =>
      `${new Date(hour + h * 3_600_000).toISOString().replace('T', ' ').slice(0, 19)},Germany,Germany,DE,1,${INTENSITY}`,
  );
  const grid = join(dir, 'grid.csv');
  await writeFile(
    grid,
    [
      'Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),Carbon Intensity gCO₂eq/kWh (life cycle assessment)',
      ...rows,
    ].join('\n'),
  );
  const { seed, runDir, stop } = await startTestSeed({ model: 'tiny', fed: { hyper: HYPER }, grid: [grid] });
  const attacker = await createAttacker();
  const self = attacker.peerId.toString();
  try {
    expect(await requestJoin(await openStream(attacker, seed, UPDATE_PROTOCOL))).toBe(0);
    const openRound = async () => (await verifyRoundManifest(seed.coordinator.currentRound(), seed.peerId)).value;
    await expect.poll(async () => self in (await openRound()).assignments, { timeout: 60_000 }).toBe(true);
    const m = await openRound();
    const issuedAt = m.deadline - DEFAULT_FED_SETTINGS.roundMs;
    const update = await honestUpdate(seed, runDir, m, self);
    const header = {
      type: 'update' as const,
      round: m.round,
      weights: m.weightsId,
      tokens: creditedTokens(m, self),
      steps: HYPER.steps,
      lossFirst: 5,
      lossLast: 4,
      gpuMs: 1e12,
      adapter: 'discrete' as const,
      region: 'DE',
    };
    // A token claim over the assignment is refused from its header (nothing read, nothing credited).
    await expect(
      sendUpdate(await openStream(attacker, seed, UPDATE_PROTOCOL), { ...header, tokens: 1e9 }, update),
    ).rejects.toThrow(/claims 1000000000 tokens, more than the round's/);
    expect((await sendUpdate(await openStream(attacker, seed, UPDATE_PROTOCOL), header, update)).type).toBe('received');
    const sentBy = Date.now();
    // Its update closed the round (the only one assigned); the receipt comes once it is checkpointed.
    let docs: unknown[] = [];
    await expect
      .poll(
        async () => {
          docs = (await requestReceipts(await openStream(attacker, seed, UPDATE_PROTOCOL), m.round)).receipts;
          return docs.length;
        },
        { timeout: 60_000 },
      )
      .toBe(1);
    const receipt = (await verifyReceipt(docs[0], seed.peerId)).value;
    const tokens = creditedTokens(m, self);
    expect(receipt).toMatchObject({
      version: 3,
      peer: self,
      tokens,
      flops: trainingFlops(seed.manifest.value.model, HYPER.context, tokens),
      adapter: 'discrete',
    });
    expect(receipt.gpuSeconds!).toBeLessThanOrEqual((sentBy - issuedAt) / 1000);
    expect(receipt.gpuSeconds!).toBeGreaterThan(0);
    const wh = (ADAPTER_POWER.discrete.watts * receipt.gpuSeconds!) / 3600;
    expect(receipt.estimatedWh).toBeCloseTo(wh, 9);
    expect(receipt.gCO2).toBeCloseTo((wh / 1000) * INTENSITY, 9);
    // The run's history sums the round's figures from the receipts, not the claims.
    const round = seed.status().history.find((h) => h.round === m.round + 1);
    expect(round).toMatchObject({ flops: receipt.flops, gpuSeconds: receipt.gpuSeconds });
  } finally {
    await attacker.stop();
    await stop();
    await rm(dir, { recursive: true, force: true });
  }
});
