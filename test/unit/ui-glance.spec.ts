// What the volunteer's page answers at a glance (src/ui/glance.ts), from the tab's state: the sums of
// what they gave today and in total (energy with its range, credits from verified FLOPs), whether
// they contribute and why not, what the pacing did about the CPU pressure, the weights line, and the
// page's own responsiveness.
import { expect, test } from '@playwright/test';
import { ADAPTER_POWER } from '../../src/fed';
import { DEFAULT_SETTINGS, initialState, type ReceiptView, reduce, type TabState } from '../../src/tab';
import {
  contributing,
  energyText,
  given,
  givenTodayAndTotal,
  pressureText,
  responsivenessText,
  weightsLine,
} from '../../src/ui/glance';

const NOW = new Date(2026, 2, 2, 15, 0).getTime();
const HOUR = 3_600_000;

/** A credited round of `gpuSeconds` on a software adapter, received `hoursAgo` before NOW. */
const credited = (round: number, gpuSeconds: number, hoursAgo: number, gCO2?: number): ReceiptView => ({
  round,
  accepted: true,
  tokens: 256,
  flops: 2e9,
  bytes: 100,
  at: NOW - hoursAgo * HOUR,
  gpuSeconds,
  adapter: 'software',
  estimatedWh: (ADAPTER_POWER.software.watts * gpuSeconds) / 3600,
  gCO2,
});

const state = (over: Partial<TabState> = {}): TabState => ({
  ...initialState('http://127.0.0.1:8080', {
    settings: { ...DEFAULT_SETTINGS, running: true },
    receipts: [],
    gpuMs: 0,
  }),
  phase: 'ready',
  ...over,
});

test('given: credited rounds only; energy and its range summed from the power table; credits in GFLOP', () => {
  const receipts = [
    credited(1, 36, 2, 0.2),
    credited(2, 72, 1),
    { round: 3, accepted: false, reason: 'late', tokens: 0, bytes: 100 },
  ];
  const g = given(receipts, 200_000);
  const p = ADAPTER_POWER.software;
  expect(g).toMatchObject({ gpuMs: 200_000, rounds: 2, tokens: 512, credits: 4, gCO2: 0.2 });
  expect(g.energy.wh).toBeCloseTo((p.watts * 108) / 3600, 10);
  expect(g.energy.lowWh).toBeCloseTo((p.low * 108) / 3600, 10);
  expect(g.energy.highWh).toBeCloseTo((p.high * 108) / 3600, 10);
  // No receipt with a gCO₂ figure: none shown rather than a zero.
  expect(given([credited(1, 36, 2)], 0).gCO2).toBeUndefined();
  // Receipts of older seeds have no impact figures: they add tokens, not energy.
  const old = given([{ round: 0, accepted: true, tokens: 64, bytes: 10 }], 0);
  expect(old).toMatchObject({ rounds: 1, tokens: 64, credits: 0, energy: { wh: 0, lowWh: 0, highWh: 0 } });
});

test("today counts the receipts of the volunteer's local day and today's GPU time; in total, all", () => {
  const s = state({
    gpuTodayMs: 60_000,
    training: {
      ...state().training,
      gpuMs: 600_000,
      receipts: [credited(1, 36, 24), credited(2, 36, 1)],
    },
  });
  const { today, total } = givenTodayAndTotal(s, NOW);
  expect(today).toMatchObject({ rounds: 1, tokens: 256, gpuMs: 60_000 });
  expect(total).toMatchObject({ rounds: 2, tokens: 512, gpuMs: 600_000 });
});

test('energy reads as the estimate with its range', () => {
  expect(energyText({ wh: 0.35, lowWh: 0.15, highWh: 1.25 })).toBe('0.35 Wh (0.15–1.3)');
  expect(energyText({ wh: 0, lowWh: 0, highWh: 0 })).toBe('0 Wh');
});

test('am I contributing: yes, eased off, paused, holding (away), or not', () => {
  expect(contributing(state()).state).toBe('yes');
  expect(contributing(state({ dutyCycleNow: 0.25 }))).toEqual({ state: 'yes', headline: 'Contributing, eased off' });
  expect(contributing(state({ pausedBecause: 'paused while on battery' })).state).toBe('paused');
  const away = 'outside your hours (22:00–07:00)';
  expect(contributing(state({ pausedBecause: away, awayBecause: away })).state).toBe('holding');
  // Paused by the volunteer outside their hours: they paused, whatever the hours.
  expect(contributing(state({ pausedBecause: 'paused by you', awayBecause: away })).state).toBe('paused');
  expect(contributing(state({ settings: DEFAULT_SETTINGS })).state).toBe('no');
  expect(
    contributing(state({ gpu: { available: false, features: [], limits: {}, adapterClass: 'unknown' } })).state,
  ).toBe('no');
});

test('the CPU pressure says what the tab did and why, and says so when the browser has no such API', () => {
  expect(pressureText(state({ pressure: 'fair' }))).toBe('fair');
  expect(pressureText(state({ pressure: 'serious', dutyCycleNow: 0.25 }))).toBe(
    'serious: GPU duty lowered from 50% to 25%: the CPU is under serious pressure',
  );
  expect(pressureText(state({ pressure: 'critical' }))).toBe(
    'critical: paused: the CPU is under critical pressure; training resumes when it eases',
  );
  expect(pressureText(state({ pressure: 'unsupported' }))).toMatch(/^not reported by this browser/);
  expect(pressureText(state({ pressure: undefined }))).toBe('waiting for the first report');
});

test('the weights line names the round being fetched, not the weights first downloaded', () => {
  const download = {
    id: 'w0',
    name: 'round 0',
    totalBytes: 4096,
    done: true,
    held: 4,
    total: 4,
    downloadedBytes: 4096,
    fromSeedBytes: 4096,
    fromPeersBytes: 0,
    corruptPieces: 0,
    bannedPeers: [],
  };
  let s = reduce(state({ downloads: [download] }), { type: 'fetching', round: 3 });
  expect(weightsLine(s)).toBe('fetching the weights of round 3 from the seed and other tabs…');
  s = reduce(s, { type: 'step', round: 3, step: 1, steps: 4, loss: 5, gpuMs: 10 });
  expect(weightsLine(s)).toBe('round 3 ✓ verified');
  expect(weightsLine(state({ downloads: [download] }))).toBe('round 0 ✓ verified');
  expect(weightsLine(state({ downloads: [{ ...download, done: false, held: 1 }] }))).toBe('round 0: 1/4 pieces');
});

test("the page's responsiveness while training, in one line", () => {
  const measured = {
    measuredMs: 90_000,
    longTasksObserved: true,
    longTasks: 2,
    longTaskMs: 130,
    longestTaskMs: 80,
    frames: 5400,
    droppedFrames: 7,
    worstFrameMs: 95,
  };
  expect(responsivenessText(state({ responsiveness: measured }))).toBe(
    '2 long tasks (longest 80 ms), 7 of 5400 frames dropped in 1.5 min of training',
  );
  expect(responsivenessText(state({ responsiveness: { ...measured, longTasks: 0, frames: 0 } }))).toBe(
    'no long tasks, no frames drawn (hidden tab) in 1.5 min of training',
  );
  expect(responsivenessText(state())).toBe('measured while training');
});
