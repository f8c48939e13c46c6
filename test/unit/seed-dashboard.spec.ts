// What builds the seed's dashboard (/dashboard): the rounds' timeline (opened, reissued, closed,
// checkpointed; the newest TIMELINE_ROUNDS_KEPT kept), the swarm's tokens per second from it, the
// ledger's top contributors (kept across a reopen), the two documents built from the seed's status,
// and the event streams: the whole state first, then `live` every interval and `run` when it
// changed, capped in all and per address, a reader that falls behind closed. Time is a manual clock.
import '../../src/seed/promise-shim';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { expect, test } from '@playwright/test';
import { DEFAULT_FED_SETTINGS, type HistoryEntry } from '../../src/fed';
import { modelPreset, paramLayout } from '../../src/model';
import {
  DASHBOARD_HISTORY_ROUNDS,
  DASHBOARD_TOP_CONTRIBUTORS,
  type DashboardData,
  type DashboardLive,
  type DashboardRun,
  dashboardData,
  runConfiguration,
  swarmThroughput,
} from '../../src/seed/dashboard';
import { dashboardStreams } from '../../src/seed/dashboard-stream';
import type { SeedStatus } from '../../src/seed/documents';
import { type Ledger, openLedger } from '../../src/seed/ledger';
import { createRoundTimeline, type RoundTimes, TIMELINE_ROUNDS_KEPT } from '../../src/seed/timeline';
import { manualClock } from '../harness/manual-clock';

const START = Date.UTC(2026, 0, 1);

/** A round manifest's parts the timeline reads: `assigned` volunteers, the deadline `ms` from `now`. */
const issue = (round: number, now: number, assigned = 2, ms = 120_000) => ({
  round,
  deadline: now + ms,
  assignments: Object.fromEntries(Array.from({ length: assigned }, (_, i) => [`peer-${i}`, i])),
});

test('the timeline records when a round opened, closed and was checkpointed, and what it credited', () => {
  const clock = manualClock(START);
  const timeline = createRoundTimeline(clock);
  timeline.opened(issue(0, clock.now(), 3));
  clock.advance(30_000);
  timeline.closed(0);
  clock.advance(5_000);
  // A close tried again (its checkpoint failed) keeps the first close.
  timeline.closed(0);
  clock.advance(5_000);
  timeline.checkpointed(0, 4096);
  timeline.opened(issue(1, clock.now(), 1));
  expect(timeline.rounds()).toEqual([
    {
      round: 0,
      openedAt: START,
      issues: 1,
      deadline: START + 120_000,
      assigned: 3,
      closedAt: START + 30_000,
      checkpointedAt: START + 40_000,
      tokens: 4096,
    },
    { round: 1, openedAt: START + 40_000, issues: 1, deadline: START + 160_000, assigned: 1 },
  ]);
});

test('a round issued again opens again: its new opening, deadline and roster, the issue counted', () => {
  const clock = manualClock(START);
  const timeline = createRoundTimeline(clock);
  timeline.opened(issue(4, clock.now(), 0));
  clock.advance(10_000);
  timeline.closed(4);
  clock.advance(5_000);
  timeline.opened(issue(4, clock.now(), 2));
  const [round] = timeline.rounds();
  expect(round).toMatchObject({
    round: 4,
    openedAt: START + 15_000,
    issues: 2,
    deadline: START + 135_000,
    assigned: 2,
  });
  expect(round!.closedAt).toBeUndefined();
});

test('an amended round (newcomers assigned into it, the same deadline) keeps its opening and counts its roster', () => {
  const clock = manualClock(START);
  const timeline = createRoundTimeline(clock);
  const first = issue(2, clock.now(), 1);
  timeline.opened(first);
  clock.advance(5_000);
  timeline.opened({ ...first, assignments: { ...first.assignments, newcomer: 7 } });
  expect(timeline.rounds()).toEqual([{ round: 2, openedAt: START, issues: 1, deadline: first.deadline, assigned: 2 }]);
});

test('the timeline keeps the newest TIMELINE_ROUNDS_KEPT rounds, and hands out copies', () => {
  const clock = manualClock(START);
  const timeline = createRoundTimeline(clock);
  for (let r = 0; r < TIMELINE_ROUNDS_KEPT + 5; r++) timeline.opened(issue(r, clock.now()));
  const rounds = timeline.rounds();
  expect(rounds.map((r) => r.round)).toEqual(Array.from({ length: TIMELINE_ROUNDS_KEPT }, (_, i) => i + 5));
  rounds[0]!.issues = 99;
  expect(timeline.rounds()[0]!.issues).toBe(1);
});

test("the swarm's tokens per second: each checkpointed round's tokens over its time from its opening to its checkpoint", () => {
  const times = (round: number, over: Partial<RoundTimes>): RoundTimes => ({
    round,
    openedAt: START,
    issues: 1,
    deadline: START + 120_000,
    assigned: 2,
    ...over,
  });
  expect(
    swarmThroughput([
      times(0, { closedAt: START + 30_000, checkpointedAt: START + 40_000, tokens: 8_000 }),
      times(1, { openedAt: START + 40_000, closedAt: START + 60_000 }), // closed, not yet checkpointed
      times(2, { openedAt: START + 60_000 }), // open
    ]),
  ).toEqual([{ round: 1, tokensPerSecond: 200 }]);
});

test('the ledger ranks volunteers by verified tokens over every receipt, and a reopened ledger ranks them the same', async () => {
  const key = await generateKeyPair('Ed25519');
  const dir = await mkdtemp(join(tmpdir(), 'vgpu-dashboard-'));
  try {
    const ledger = await openLedger(dir, key);
    await issueRounds(ledger.issue, [
      [
        ['a', 100],
        ['b', 300],
      ],
      [
        ['a', 250],
        ['c', 50],
      ],
    ]);
    const ranked = [
      { peer: 'a', tokens: 350, rounds: 2 },
      { peer: 'b', tokens: 300, rounds: 1 },
      { peer: 'c', tokens: 50, rounds: 1 },
    ];
    expect(ledger.topContributors(10)).toEqual(ranked);
    expect(ledger.topContributors(2)).toEqual(ranked.slice(0, 2));
    // New receipts rank again: c overtakes everyone.
    await issueRounds(ledger.issue, [[['c', 1_000]]], 2);
    expect(ledger.topContributors(1)).toEqual([{ peer: 'c', tokens: 1_050, rounds: 2 }]);
    expect((await openLedger(dir, key)).topContributors(10)).toEqual(ledger.topContributors(10));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Issues one round of receipts per element of `rounds` ([peer, tokens] each), from round `first`. */
async function issueRounds(issue: Ledger['issue'], rounds: [string, number][][], first = 0): Promise<void> {
  for (const [i, entries] of rounds.entries())
    await issue(
      entries.map(([peer, tokens]) => ({
        round: first + i,
        peer,
        tokens,
        update: 'ab'.repeat(32),
        bytes: 64,
        at: START,
      })),
    );
}

function status(over: Partial<SeedStatus> = {}): SeedStatus {
  return {
    round: 7,
    volunteers: 3,
    acceptedUpdates: 40,
    rejectedUpdates: 5,
    rejectedByKind: { malformed: 1, invalid: 2, late: 0, refused: 1, unverified: 1 },
    aggregation: { rounds: 6, seconds: 1.5, lastSeconds: 0.25 },
    tokens: 12_288,
    history: [
      { round: 0, tokens: 0, valLoss: 7 },
      { round: 7, tokens: 12_288, valLoss: 5.5 },
    ],
    open: { round: 7, deadline: START + 60_000, assigned: 4, received: 2 },
    peerId: 'seed-peer',
    peers: 5,
    relayReservations: 4,
    uploadedBytes: 1,
    piecesServed: 9,
    refusedRequests: 11,
    sentBytes: { http: 100, libp2p: 200, libp2pStreams: { '/vgpu/piece/1.0.0': 150 } },
    manifest: { id: 'm', name: 'n', totalBytes: 1, pieces: 1 },
    ...over,
  };
}

const model = modelPreset('tiny');
const config = runConfiguration(
  {
    model,
    data: {
      source: { kind: 'path', path: 'corpus.txt', sha256: 'cd'.repeat(32), vocab: model.vocab, createdAt: '' },
      sha256: { train: 'ab'.repeat(32), validation: 'ef'.repeat(32) },
    },
  },
  DEFAULT_FED_SETTINGS,
);

test('the run configuration names the model with its parameter count, the data and every federated setting', () => {
  expect(config.model).toEqual(model);
  expect(config.parameters).toBe(paramLayout(model).total);
  expect(config.data.source).toMatchObject({ kind: 'path', path: 'corpus.txt' });
  expect(config.data.sha256.train).toBe('ab'.repeat(32));
  expect(config.settings).toEqual(DEFAULT_FED_SETTINGS);
});

test('the `run` document: the last DASHBOARD_HISTORY_ROUNDS losses, the throughput, the timeline and the top contributors', () => {
  const history: HistoryEntry[] = Array.from({ length: DASHBOARD_HISTORY_ROUNDS + 3 }, (_, round) => ({
    round,
    tokens: round * 100,
    valLoss: 8 - round / 1000,
  }));
  const rounds: RoundTimes[] = [
    {
      round: 0,
      openedAt: START,
      issues: 1,
      deadline: START + 1,
      assigned: 1,
      checkpointedAt: START + 2_000,
      tokens: 100,
    },
  ];
  let asked = 0;
  const data = dashboardData({
    config,
    status: () => status({ history }),
    received: () => ({ http: 1, libp2p: 2 }),
    rounds: () => rounds,
    topContributors: (n) => {
      asked = n;
      return [{ peer: 'a', tokens: 100, rounds: 1 }];
    },
  });
  const run = data.run();
  expect(run.seed).toBe('seed-peer');
  expect(run.config).toBe(config);
  expect(run.history).toHaveLength(DASHBOARD_HISTORY_ROUNDS);
  expect(run.history[0]!.round).toBe(3);
  expect(run.history.at(-1)).toEqual(history.at(-1));
  expect(run.throughput).toEqual([{ round: 1, tokensPerSecond: 50 }]);
  expect(run.timeline).toEqual(rounds);
  expect(asked).toBe(DASHBOARD_TOP_CONTRIBUTORS);
  expect(run.contributors).toEqual([{ peer: 'a', tokens: 100, rounds: 1 }]);
});

test("the `live` document: the seed's time, the open round, volunteers, updates by kind, tokens and bytes", () => {
  const clock = manualClock(START + 5_000);
  const data = dashboardData({
    config,
    status: () => status(),
    received: () => ({ http: 10, libp2p: 20 }),
    rounds: () => [],
    topContributors: () => [],
    clock,
  });
  expect(data.live()).toEqual({
    now: START + 5_000,
    round: 7,
    deadline: START + 60_000,
    volunteers: { online: 3, assigned: 4, reported: 2 },
    peers: 5,
    updates: { accepted: 40, rejected: { malformed: 1, invalid: 2, late: 0, refused: 1, unverified: 1 } },
    tokens: 12_288,
    bytes: { received: { http: 10, libp2p: 20 }, sent: { http: 100, libp2p: 200 } },
  } satisfies DashboardLive);
});

/** Data whose `run` document changes when the test says, and whose `live` counts its readings. */
function changingData(): DashboardData & { nextRound(): void } {
  let round = 0;
  let readings = 0;
  return {
    run: () => ({ round }) as unknown as DashboardRun,
    live: () => ({ readings: ++readings }) as unknown as DashboardLive,
    nextRound: () => {
      round++;
    },
  };
}

/** What a stream sent so far, as [event, data] pairs. */
function reader(stream: Readable): () => [string, unknown][] {
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  return () =>
    text
      .split('\n\n')
      .filter((frame) => frame !== '')
      .map((frame) => {
        const [event, data] = frame.split('\n');
        return [event!.replace('event: ', ''), JSON.parse(data!.replace('data: ', ''))];
      });
}

/** Lets a stream's pushed chunks reach its 'data' listeners. */
const flowed = () => new Promise((resolve) => setImmediate(resolve));

test('a stream gets the whole state at once, then `live` every interval and `run` only when it changed', async () => {
  const clock = manualClock(START);
  const data = changingData();
  const streams = dashboardStreams(data, { clock, limits: { pushIntervalMs: 1_000 } });
  const stream = streams.open('192.0.2.1')!.body;
  const events = reader(stream);
  await flowed();
  expect(events()).toEqual([
    ['run', { round: 0 }],
    ['live', { readings: 1 }],
  ]);
  clock.advance(1_000);
  await flowed();
  expect(events().slice(2)).toEqual([['live', { readings: 2 }]]);
  data.nextRound();
  clock.advance(1_000);
  await flowed();
  expect(events().slice(3)).toEqual([
    ['run', { round: 1 }],
    ['live', { readings: 3 }],
  ]);
  // A second stream gets the whole state at once; the first is not sent `run` again.
  const second = reader(streams.open('192.0.2.2')!.body);
  clock.advance(1_000);
  await flowed();
  expect(second()).toEqual([
    ['run', { round: 1 }],
    ['live', { readings: 4 }],
    ['live', { readings: 5 }],
  ]);
  expect(events().slice(5)).toEqual([['live', { readings: 5 }]]);
  streams.stop();
  await flowed();
  // The last stream closed: no timer is left.
  expect(stream.destroyed).toBe(true);
  expect(clock.pending()).toBe(0);
});

test('streams are capped per address and in all; a closed one frees its slot', async () => {
  const clock = manualClock(START);
  const streams = dashboardStreams(changingData(), { clock, limits: { maxStreams: 3, maxStreamsPerIp: 2 } });
  const first = streams.open('192.0.2.1');
  expect(streams.open('192.0.2.1')).toBeDefined();
  expect(streams.open('192.0.2.1')).toBeUndefined();
  expect(streams.open('192.0.2.2')).toBeDefined();
  expect(streams.open('192.0.2.3')).toBeUndefined();
  first!.body.destroy();
  await flowed();
  expect(streams.open('192.0.2.3')).toBeDefined();
  expect(streams.open('192.0.2.1')).toBeUndefined();
  streams.stop();
});

test('a stream whose reader falls a buffer behind is closed, and frees its slot', async () => {
  const clock = manualClock(START);
  const streams = dashboardStreams(changingData(), {
    clock,
    limits: { maxStreamsPerIp: 1, pushIntervalMs: 1_000, streamBufferBytes: 256 },
  });
  const stream = streams.open('192.0.2.1')!.body; // never read
  for (let i = 0; i < 20 && !stream.destroyed; i++) clock.advance(1_000);
  expect(stream.destroyed).toBe(true);
  await flowed();
  expect(streams.open('192.0.2.1')).toBeDefined();
  streams.stop();
});

test('stop closes every stream and leaves no timer', async () => {
  const clock = manualClock(START);
  const streams = dashboardStreams(changingData(), { clock });
  const opened = [streams.open('192.0.2.1')!.body, streams.open('192.0.2.2')!.body];
  expect(clock.pending()).toBe(1);
  streams.stop();
  expect(opened.every((s) => s.destroyed)).toBe(true);
  expect(clock.pending()).toBe(0);
});
