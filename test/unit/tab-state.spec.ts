// The tab's state and its reducer (src/tab/state.ts): each event a part of the tab reports moves
// the state the page renders, without mutating the one before.
import { expect, test } from '@playwright/test';
import { UpdateRefusedError } from '../../src/fed';
import {
  adapterClassInUse,
  DEFAULT_SETTINGS,
  type DownloadView,
  initialState,
  MAX_LOSSES,
  MAX_SENT_ROUNDS,
  MAX_WARNINGS,
  type PacingView,
  parseGlobalView,
  type ReceiptView,
  reduce,
  type TabEvent,
  type TabState,
} from '../../src/tab';
import { resendDelay } from '../../src/tab/participant';
import { failure } from '../../src/ui/view';

const SEED = 'http://127.0.0.1:8080';
const receipt = (round: number, accepted: boolean, tokens: number): ReceiptView => ({
  round,
  accepted,
  tokens,
  bytes: 100,
  reason: accepted ? undefined : 'norm too large',
});
const fresh = () => initialState(SEED, { settings: DEFAULT_SETTINGS, receipts: [], gpuMs: 0 });

/** Applies events in order, checking that none mutates the state it was given. */
function run(state: TabState, ...events: TabEvent[]): TabState {
  for (const e of events) {
    const before = structuredClone(state);
    const next = reduce(state, e);
    expect(state, `${e.type} mutated its input`).toEqual(before);
    state = next;
  }
  return state;
}

const download = (id: string, held: number, done = false): DownloadView => ({
  id,
  name: `weights ${id}`,
  totalBytes: 4096,
  done,
  held,
  total: 4,
  downloadedBytes: held * 1024,
  fromSeedBytes: held * 1024,
  fromPeersBytes: 0,
  corruptPieces: 0,
  bannedPeers: [],
});

test('a tab starts from what it kept: settings, GPU time, and the counts of its receipts', () => {
  const s = initialState(SEED, {
    settings: { ...DEFAULT_SETTINGS, running: true },
    receipts: [receipt(0, true, 1500), receipt(1, false, 900), receipt(2, true, 600)],
    gpuMs: 1234,
  });
  expect(s.phase).toBe('connecting');
  expect(s.settings.running).toBe(true);
  expect(s.training).toMatchObject({ status: 'off', gpuMs: 1234, acceptedRounds: 2, tokens: 2100 });
});

test('the seed link: retrying shows why and when; connecting clears it and names the peer and the page drawn', () => {
  const retrying = run(fresh(), { type: 'seed-unreachable', error: 'HTTP 502', retryAt: 5000 });
  expect(retrying).toMatchObject({ phase: 'retrying', error: 'seed unreachable: HTTP 502', retryAt: 5000 });
  const connected = run(retrying, { type: 'connected', peerId: '12D3KooWtab', seedPage: 'http://helper:8090' });
  expect(connected).toMatchObject({ phase: 'downloading', peerId: '12D3KooWtab', seedPage: 'http://helper:8090' });
  expect(connected.error).toBeUndefined();
  expect(connected.retryAt).toBeUndefined();
});

test('downloads: a new manifest is added, progress replaces it in place, then the tab is ready', () => {
  const s = run(
    fresh(),
    { type: 'download', download: download('a', 0) },
    { type: 'download', download: download('b', 0) },
    { type: 'download', download: download('a', 3) },
    { type: 'download', download: download('a', 4, true) },
  );
  expect(s.downloads.map((d) => [d.id, d.held, d.done])).toEqual([
    ['a', 4, true],
    ['b', 0, false],
  ]);
  expect(run(s, { type: 'downloads-done' }).phase).toBe('ready');
});

test('warnings and local losses keep only the newest', () => {
  let s = fresh();
  for (let i = 0; i < MAX_WARNINGS + 5; i++) s = reduce(s, { type: 'warning', text: `w${i}` });
  expect(s.warnings).toHaveLength(MAX_WARNINGS);
  expect(s.warnings[0]).toBe('w5');
  for (let i = 1; i <= MAX_LOSSES + 3; i++) {
    s = reduce(s, { type: 'step', round: 0, step: i, steps: MAX_LOSSES + 3, loss: i, gpuMs: 2 });
  }
  expect(s.training.losses).toHaveLength(MAX_LOSSES);
  expect(s.training.losses[0]?.step).toBe(4);
  expect(s.training.gpuMs).toBe(2 * (MAX_LOSSES + 3));
});

test('a round as the participant reports it: fetching, steps, a hold, the update, the receipt', () => {
  let s = run(
    fresh(),
    { type: 'joining' },
    { type: 'joined', round: 3 },
    { type: 'fetching', round: 3 },
    { type: 'step', round: 3, step: 1, steps: 2, loss: 6.5, gpuMs: 40 },
  );
  expect(s.training).toMatchObject({ status: 'training', round: 3, step: 1, steps: 2, gpuMs: 40 });
  s = run(s, { type: 'holding', round: 3 });
  expect(s.training.status).toBe('holding');
  s = run(
    s,
    { type: 'step', round: 3, step: 2, steps: 2, loss: 6.1, gpuMs: 60 },
    { type: 'trained', round: 3, tokens: 512, busyMs: 100, idleMs: 100, flops: 2e8 },
    { type: 'sending', round: 3, bytes: 1000, denseBytes: 4000, gpuMs: 100 },
  );
  expect(s.training).toMatchObject({ status: 'sending', lastUpdateBytes: 1000, lastDenseBytes: 4000, gpuMs: 100 });
  expect(s.speed).toEqual({ tokensPerS: 5120, gflops: 2, dutyMeasured: 0.5 });
  // A refusal that passes: the page says the update goes again, and when; taken in, the note goes.
  s = run(s, { type: 'send-later', round: 3, reason: 'busy: try again in a moment', retryInMs: 4_200 });
  expect(s.training).toMatchObject({
    status: 'sending',
    reason: "the seed refused round 3's update for now (busy: try again in a moment); sending it again in 5 s",
  });
  s = run(s, { type: 'sent', round: 3 });
  expect(s.training.reason).toBeUndefined();
  expect(s.training).toMatchObject({ status: 'waiting', acceptedRounds: 0, tokens: 0 });
  const credited = { kind: 'vgpu/receipt', version: 2, peer: 'p', update: 'u', at: 1, prev: 'h' } as const;
  s = run(s, {
    type: 'receipt',
    receipt: { ...credited, round: 3, tokens: 512, bytes: 1000, index: 0 },
    signed: { signer: 's', body: '{}', signature: 'x' },
  });
  expect(s.training).toMatchObject({ status: 'waiting', acceptedRounds: 1, tokens: 512 });
  expect(s.training.reason).toBeUndefined();
  s = run(s, { type: 'not-credited', round: 4, reason: 'late' });
  expect(s.training).toMatchObject({ acceptedRounds: 1, tokens: 512, reason: 'round 4 not credited: late' });
  expect(s.training.receipts).toHaveLength(2);
  expect(s.training.receipts[1]).toMatchObject({ round: 4, accepted: false, reason: 'late', tokens: 0 });
});

test('a skipped round and an error say why; an error says when the tab retries', () => {
  const skipped = run(fresh(), { type: 'skipped', round: 2, reason: 'a newer round started' });
  expect(skipped.training).toMatchObject({ status: 'waiting', reason: 'round 2 skipped: a newer round started' });
  const failed = run(skipped, { type: 'error', message: 'stream reset', retryInMs: 4000 });
  expect(failed.training).toMatchObject({ status: 'error', reason: 'stream reset (retrying in 4 s)' });
  const cannot = run(fresh(), { type: 'cannot-train', reason: 'no WebGPU' });
  expect(cannot.training).toMatchObject({ status: 'off', reason: 'no WebGPU' });
});

test('a refused round and a seed serving corrupted weights: the tab stops working for the seed and the page says why', () => {
  const refused = run(fresh(), {
    type: 'round-refused',
    round: 4,
    reason: 'hyper.batchSize is 100000, over the bound of 64',
  });
  expect(refused.training).toMatchObject({
    status: 'refused',
    round: 4,
    reason:
      "the seed's round 4 asks more than this tab allows (hyper.batchSize is 100000, over the bound of 64), so it was not trained; the seed is misconfigured or hostile — contact the researcher",
  });
  expect(failure(refused)).toBe(`Not training: ${refused.training.reason}.`);
  // From the participant, which tries again later; from the first download, which does not.
  const corrupt = run(fresh(), { type: 'seed-corrupt', corruptPieces: 2, retryInMs: 600_000 });
  expect(corrupt.training.status).toBe('refused');
  expect(failure(corrupt)).toBe(
    'Not training: the seed served 2 corrupted pieces of the weights; it is broken or hostile — contact the researcher (trying again in 10 min).',
  );
  expect(run(fresh(), { type: 'seed-corrupt', corruptPieces: 2 }).training.reason).toBe(
    'the seed served 2 corrupted pieces of the weights; it is broken or hostile — contact the researcher',
  );
  // Taking part again clears it.
  expect(failure(run(corrupt, { type: 'joining' }))).toBeUndefined();
});

/** What the pacing reports when nothing holds the tab. */
const working: PacingView = {
  pausedBecause: undefined,
  awayBecause: undefined,
  dutyCycleNow: 1,
  pressure: 'nominal',
  gridIntensity: undefined,
  gpuTodayMs: 0,
};

test('settings, pacing, the GPU, peers and the run status are taken as reported', () => {
  const s = run(
    fresh(),
    { type: 'settings', settings: { ...DEFAULT_SETTINGS, dutyCycle: 1 } },
    { type: 'pacing', view: { ...working, pausedBecause: 'paused while on battery' } },
    { type: 'gpu', gpu: { available: false, features: [], limits: {}, adapterClass: 'unknown' } },
    { type: 'swarm', peers: [{ id: 'p1', kind: 'seed' }], uploads: { uploadedBytes: 9, piecesServed: 1, refused: 0 } },
    { type: 'run-status', global: { round: 7, volunteers: 3, acceptedUpdates: 12, history: [] } },
  );
  expect(s.settings.dutyCycle).toBe(1);
  expect(s.pausedBecause).toBe('paused while on battery');
  expect(s.gpu?.available).toBe(false);
  expect(s.peers).toEqual([{ id: 'p1', kind: 'seed' }]);
  expect(s.uploads.uploadedBytes).toBe(9);
  expect(s.global?.round).toBe(7);
  expect(run(s, { type: 'pacing', view: working }).pausedBecause).toBeUndefined();
});

test("the pacing's view replaces the last one whole: pressure, the duty cycle in force, away, the grid, today's GPU time", () => {
  const eased = run(fresh(), {
    type: 'pacing',
    view: { ...working, pressure: 'serious', dutyCycleNow: 0.25, gridIntensity: 120, gpuTodayMs: 5000 },
  });
  expect(eased).toMatchObject({ pressure: 'serious', dutyCycleNow: 0.25, gridIntensity: 120, gpuTodayMs: 5000 });
  const away = run(eased, {
    type: 'pacing',
    view: {
      ...working,
      awayBecause: 'outside your hours (22:00–07:00)',
      pausedBecause: 'outside your hours (22:00–07:00)',
    },
  });
  expect(away).toMatchObject({ pressure: 'nominal', dutyCycleNow: 1, awayBecause: 'outside your hours (22:00–07:00)' });
  expect(away.gridIntensity).toBeUndefined();
});

test('away: the participant left the run, and says why; joining again clears it', () => {
  const away = run(fresh(), { type: 'away', reason: 'the grid in DE is at 420 gCO₂/kWh, not below your 300' });
  expect(away.training).toMatchObject({
    status: 'away',
    reason: 'the grid in DE is at 420 gCO₂/kWh, not below your 300',
  });
  expect(run(away, { type: 'joining' }, { type: 'joined', round: 4 }).training.status).toBe('waiting');
});

test('the weights of the round trained, and the busy time each update header gave, are kept (the newest MAX_SENT_ROUNDS)', () => {
  let s = run(
    fresh(),
    { type: 'fetching', round: 2 },
    { type: 'step', round: 2, step: 1, steps: 4, loss: 5, gpuMs: 9 },
  );
  expect(s.training.weightsRound).toBe(2);
  s = run(s, { type: 'fetching', round: 3 });
  expect(s.training).toMatchObject({ status: 'fetching', round: 3, weightsRound: 2 });
  for (let round = 0; round < MAX_SENT_ROUNDS + 2; round++)
    s = reduce(s, { type: 'sending', round, bytes: 10, denseBytes: 40, gpuMs: 100 + round });
  expect(s.training.sent).toHaveLength(MAX_SENT_ROUNDS);
  expect(s.training.sent.at(-1)).toEqual({ round: MAX_SENT_ROUNDS + 1, gpuMs: 101 + MAX_SENT_ROUNDS });
  s = reduce(s, { type: 'trained', round: 30, tokens: 64, busyMs: 100, idleMs: 0, flops: 1e6 });
  // A round given up before its first step keeps the last speed.
  const speed = s.speed;
  expect(run(s, { type: 'trained', round: 99, tokens: 0, busyMs: 0, idleMs: 50, flops: 0 }).speed).toEqual(speed);
});

test("a receipt's impact figures are kept with it: GPU seconds, adapter class, energy, gCO₂, and when", () => {
  const s = run(fresh(), {
    type: 'receipt',
    receipt: {
      kind: 'vgpu/receipt',
      version: 3,
      round: 5,
      peer: 'p',
      tokens: 256,
      flops: 3e9,
      gpuSeconds: 12.5,
      adapter: 'software',
      estimatedWh: 0.12,
      gCO2: 0.05,
      update: 'u',
      bytes: 1000,
      at: 1_700_000_000_000,
      index: 0,
      prev: 'h',
    },
    signed: { signer: 's', body: '{}', signature: 'x' },
  });
  expect(s.training.receipts).toEqual([
    {
      round: 5,
      accepted: true,
      tokens: 256,
      flops: 3e9,
      bytes: 1000,
      at: 1_700_000_000_000,
      gpuSeconds: 12.5,
      adapter: 'software',
      estimatedWh: 0.12,
      gCO2: 0.05,
    },
  ]);
  expect(s.training).toMatchObject({ acceptedRounds: 1, tokens: 256, flops: 3e9 });
});

test("the adapter class in use: the volunteer's correction, else the one detected", () => {
  const gpu = { available: true, features: [], limits: {}, adapterClass: 'software' as const };
  expect(adapterClassInUse({ settings: DEFAULT_SETTINGS, gpu })).toBe('software');
  expect(adapterClassInUse({ settings: { ...DEFAULT_SETTINGS, adapterClass: 'discrete' }, gpu })).toBe('discrete');
  expect(adapterClassInUse({ settings: DEFAULT_SETTINGS, gpu: undefined })).toBe('unknown');
});

test("the run's figures are taken from /status.json only when they have the shape the page draws", () => {
  const status = {
    round: 3,
    volunteers: 2,
    acceptedUpdates: 5,
    history: [{ round: 0, tokens: 0, valLoss: 7, extra: 'x' }],
    peers: 4,
  };
  expect(parseGlobalView(status)).toEqual({
    round: 3,
    volunteers: 2,
    acceptedUpdates: 5,
    history: [{ round: 0, tokens: 0, valLoss: 7 }],
  });
  // Rounds with updates carry their energy estimate.
  const withEnergy = {
    ...status,
    history: [...status.history, { round: 1, tokens: 512, valLoss: 6, estimatedWh: 0.5 }],
  };
  expect(parseGlobalView(withEnergy)?.history[1]).toEqual({ round: 1, tokens: 512, valLoss: 6, estimatedWh: 0.5 });
  expect(
    parseGlobalView({ ...status, history: [{ round: 1, tokens: 0, valLoss: 6, estimatedWh: -1 }] }),
  ).toBeUndefined();
  // A helper's /status.json (no history), and broken or hostile ones.
  expect(parseGlobalView({ round: 3, volunteers: 2, partialsSent: 1 })).toBeUndefined();
  expect(parseGlobalView({ ...status, history: [{ round: 'x', tokens: 0, valLoss: 1 }] })).toBeUndefined();
  expect(parseGlobalView({ ...status, round: -1 })).toBeUndefined();
  expect(parseGlobalView(null)).toBeUndefined();
  expect(parseGlobalView('status')).toBeUndefined();
});

test("a refused update is sent again after the refusal's wait while the round's deadline is still ahead after it; otherwise the round is given up", () => {
  const now = 1_000_000;
  const busy = new UpdateRefusedError('busy: try again in a moment', 5_000);
  expect(resendDelay(busy, now, now + 5_001)).toBe(5_000);
  expect(resendDelay(busy, now, now + 5_000)).toBeUndefined();
  expect(resendDelay(new UpdateRefusedError('the round is closed'), now, now + 60_000)).toBeUndefined();
});
