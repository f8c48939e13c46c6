import { expect, test } from '@playwright/test';
import { jsonBytes, ringAllReduceTraffic, volunteerRoundTraffic } from '../../bench/lib/fed-traffic';
import { centralLr } from '../../bench/lib/fed-training';
import { runInProcesses } from '../../bench/lib/processes';
import type { ReceiptsReply, UpdateHeader } from '../../src/fed';

test("central's schedule: a linear warm-up to the lr, then a cosine to its floor at the last step", () => {
  const schedule = { warmupSteps: 4, finalFraction: 0.1 };
  const lrs = Array.from({ length: 100 }, (_, k) => centralLr(0.01, schedule, k, 100));
  expect(lrs.slice(0, 4)).toEqual([0.0025, 0.005, 0.0075, 0.01]);
  expect(lrs[4]).toBeCloseTo(0.01, 12);
  expect(lrs[99]).toBeCloseTo(0.001, 12);
  for (let k = 5; k < 100; k++) expect(lrs[k]!).toBeLessThan(lrs[k - 1]!);
  expect(centralLr(0.01, undefined, 57, 100)).toBe(0.01);
});

test('a ring all-reduce sends and receives 2·(N−1)/N of the vector per worker', () => {
  expect(ringAllReduceTraffic(1000, 4)).toEqual({ upload: 1500, download: 1500 });
  expect(ringAllReduceTraffic(1000, 2)).toEqual({ upload: 1000, download: 1000 });
  expect(ringAllReduceTraffic(1000, 1)).toEqual({ upload: 0, download: 0 });
  expect(() => ringAllReduceTraffic(1000, 0)).toThrow(RangeError);
});

test("a volunteer's round: round manifest, weights, acknowledgement and receipts down; update and receipts request up", () => {
  const roundManifest = { body: '{"round":0}', signer: 'seed', signature: 'c2ln' };
  const receipt = { body: '{"round":0}', signer: 'seed', signature: 'c2ln' };
  const outcome = { type: 'received', update: 'cd'.repeat(32) } as const;
  const receipts: ReceiptsReply = { type: 'receipts', receipts: [receipt], rejected: [], closedThrough: 0 };
  const header: UpdateHeader = {
    type: 'update',
    round: 0,
    weights: 'ab'.repeat(32),
    bytes: 1020,
    tokens: 64,
    steps: 1,
    lossFirst: 7,
    lossLast: 6.5,
  };
  const t = volunteerRoundTraffic({
    peer: 'v',
    roundManifest,
    weightsBytes: 4000,
    header,
    update: new Uint8Array(1020),
    outcome,
    receipts,
  });
  expect(t.upload).toBe(JSON.stringify(header).length + 1020 + '{"type":"receipts","since":0}'.length);
  expect(t.download).toBe(
    JSON.stringify(roundManifest).length + 4000 + JSON.stringify(outcome).length + JSON.stringify(receipts).length,
  );
  expect(jsonBytes({ name: 'é' })).toBe(new TextEncoder().encode('{"name":"é"}').length);
});

test('runInProcesses runs every job in child processes and keeps the jobs order', async () => {
  const module = new URL('../../bench/lib/fed-traffic.ts', import.meta.url);
  const jobs = ['a', { b: [1, 2] }, 'é', 12345];
  expect(await runInProcesses(module, 'jsonBytes', jobs, 2)).toEqual(jobs.map(jsonBytes));
});

test("runInProcesses rejects with the failing job's error", async () => {
  const module = new URL('../../bench/lib/fed-traffic.ts', import.meta.url);
  // ringAllReduceTraffic(job) has no worker count: it throws.
  await expect(runInProcesses(module, 'ringAllReduceTraffic', [1000], 1)).rejects.toThrow(
    /job 0 failed: RangeError: workers must be a positive integer/,
  );
  await expect(runInProcesses(module, 'noSuchExport', [1], 1)).rejects.toThrow(/has no function noSuchExport/);
});
