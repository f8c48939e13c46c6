// A failing disk at a round's close (issue 13, item 9), on a real seed whose time the test moves:
// the checkpoint cannot be written (here: `checkpoints` is a file, as good as a full disk for the
// seed), so the round is not applied and stays closed to updates; once the disk is writable again
// the next try closes it, the next round is published, and no temporary file is left. The update is
// honest work (2 local steps of 1×16 tokens), so it passes the seed's verification.
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import {
  CLOSE_RETRY_MS,
  DEFAULT_FED_SETTINGS,
  MIN_REISSUE_MS,
  requestJoin,
  requestReceipts,
  sendUpdate,
  UPDATE_PROTOCOL,
  UpdateRefusedError,
  verifyReceipt,
  verifyRoundManifest,
} from '../../src/fed';
import { createAttacker, honestUpdate, openStream, startTestSeed } from '../harness/attacker';
import { manualClock } from '../harness/manual-clock';

test('a checkpoint that cannot be written holds the round closed, and the run recovers once it can', async () => {
  const clock = manualClock();
  const logs: string[] = [];
  const hyper = { ...DEFAULT_FED_SETTINGS.hyper, steps: 2, batchSize: 1, context: 16 };
  const {
    seed: s,
    runDir,
    stop,
  } = await startTestSeed({
    model: 'tiny',
    clock,
    log: (line) => logs.push(line),
    fed: { hyper },
  });
  const round = async () => (await verifyRoundManifest(s.coordinator.currentRound(), s.peerId)).value;
  const volunteer = await createAttacker();
  try {
    await requestJoin(await openStream(volunteer, s, UPDATE_PROTOCOL));
    clock.advance(MIN_REISSUE_MS);
    await expect.poll(async () => volunteer.peerId.toString() in (await round()).assignments).toBe(true);
    const m = await round();
    const header = {
      type: 'update' as const,
      round: 0,
      weights: m.weightsId,
      tokens: 1,
      steps: hyper.steps,
      lossFirst: 1,
      lossLast: 1,
    };
    const body = await honestUpdate(s, runDir, m, volunteer.peerId.toString());

    await writeFile(join(runDir, 'checkpoints'), 'in the way'); // the checkpoint folder cannot be made
    const outcome = await sendUpdate(await openStream(volunteer, s, UPDATE_PROTOCOL), header, body);
    expect(outcome.type).toBe('received');
    // (After its verification, in the seed's verification thread.)
    await expect.poll(() => logs.some((l) => l.startsWith('closing round 0 failed')), { timeout: 60_000 }).toBe(true);
    // Nothing applied: round 0 is still the one published, closed to updates; no receipt was issued.
    expect((await round()).round).toBe(0);
    expect(s.status().round).toBe(0);
    const receipts = async () => requestReceipts(await openStream(volunteer, s, UPDATE_PROTOCOL), 0);
    expect(await receipts()).toMatchObject({ receipts: [], closedThrough: -1 });
    await expect(sendUpdate(await openStream(volunteer, s, UPDATE_PROTOCOL), header, body)).rejects.toThrow(
      UpdateRefusedError,
    );

    await rm(join(runDir, 'checkpoints')); // the disk is writable again
    clock.advance(CLOSE_RETRY_MS);
    await expect.poll(async () => (await round()).round, { timeout: 60_000 }).toBe(1);
    expect(s.status().round).toBe(1);
    // The receipt comes once the checkpoint is on disk, in the ledger the round manifest roots.
    const reply = await receipts();
    expect(reply.closedThrough).toBe(0);
    expect(reply.receipts).toHaveLength(1);
    expect((await verifyReceipt(reply.receipts[0]!, s.peerId)).value).toMatchObject({ round: 0, index: 0 });
    expect((await round()).ledger.receipts).toBe(1);
    expect((await readdir(join(runDir, 'checkpoints'))).sort()).toEqual(['round-000001']);
    const leftovers = [...(await readdir(runDir)), ...(await readdir(join(runDir, 'checkpoints', 'round-000001')))];
    expect(leftovers.filter((f) => f.includes('.tmp-'))).toEqual([]);
  } finally {
    await volunteer.stop();
    await stop();
  }
});
