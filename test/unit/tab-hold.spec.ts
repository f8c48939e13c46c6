// When the tab holds beyond the volunteer's Pause (src/tab/hold.ts): the hours they chose, across
// midnight too; their grid threshold against the run's schedule; and the duty cycle under CPU pressure.
import { expect, test } from '@playwright/test';
import type { GridSchedule } from '../../src/fed';
import {
  awayReason,
  clockTime,
  DEFAULT_SETTINGS,
  dutyCycleUnder,
  hoursText,
  minuteOfDay,
  type Settings,
  withinHours,
} from '../../src/tab';

const hm = (h: number, m = 0) => h * 60 + m;

test.describe('withinHours', () => {
  test('a window within a day: its start included, its end not', () => {
    const office = { from: hm(9), to: hm(17, 30) };
    expect(withinHours(office, hm(8, 59))).toBe(false);
    expect(withinHours(office, hm(9))).toBe(true);
    expect(withinHours(office, hm(13))).toBe(true);
    expect(withinHours(office, hm(17, 29))).toBe(true);
    expect(withinHours(office, hm(17, 30))).toBe(false);
    expect(withinHours(office, hm(0))).toBe(false);
  });

  test('a window across midnight (22:00–07:00) holds the evening and the early morning, not the day', () => {
    const night = { from: hm(22), to: hm(7) };
    for (const minute of [hm(22), hm(23, 59), hm(0), hm(3), hm(6, 59)])
      expect(withinHours(night, minute), clockTime(minute)).toBe(true);
    for (const minute of [hm(7), hm(12), hm(21, 59)]) expect(withinHours(night, minute), clockTime(minute)).toBe(false);
  });

  test('the same start and end is the whole day', () => {
    for (const minute of [0, hm(7), hm(23, 59)]) expect(withinHours({ from: hm(7), to: hm(7) }, minute)).toBe(true);
  });

  test('times read in local time, and written as HH:MM', () => {
    expect(minuteOfDay(new Date(2026, 0, 1, 22, 15))).toBe(hm(22, 15));
    expect(clockTime(hm(7, 5))).toBe('07:05');
    expect(hoursText({ from: hm(22), to: hm(7) })).toBe('22:00–07:00');
  });
});

test.describe('awayReason', () => {
  const noon = new Date(2026, 2, 2, 12, 0).getTime();
  const settings = (over: Partial<Settings>): Settings => ({ ...DEFAULT_SETTINGS, running: true, ...over });
  const grid: GridSchedule = {
    kind: 'vgpu/grid',
    version: 1,
    source: 'zones.csv',
    regions: {
      DE: [{ start: new Date(2026, 2, 2, 12).getTime(), gCO2PerKWh: 380 }],
      FR: [{ start: new Date(2026, 2, 2, 12).getTime(), gCO2PerKWh: 45 }],
    },
  };

  test('the hours: away outside them only when the volunteer asked for them', () => {
    const night = { hoursFrom: hm(22), hoursTo: hm(7) };
    expect(awayReason({ settings: settings({ onlyHours: true, ...night }), now: noon, grid: undefined })).toBe(
      'outside your hours (22:00–07:00)',
    );
    expect(
      awayReason({ settings: settings({ onlyHours: false, ...night }), now: noon, grid: undefined }),
    ).toBeUndefined();
    const lunch = { onlyHours: true, hoursFrom: hm(11, 30), hoursTo: hm(13) };
    expect(awayReason({ settings: settings(lunch), now: noon, grid: undefined })).toBeUndefined();
  });

  test('the grid: away while the region is at or above the limit, in below it', () => {
    const at = (gridRegion: string, gridLimit: number) =>
      awayReason({ settings: settings({ gridRegion, gridLimit }), now: noon, grid });
    expect(at('DE', 300)).toBe('the grid in DE is at 380 gCO₂/kWh, not below your 300');
    expect(at('DE', 380)).toBe('the grid in DE is at 380 gCO₂/kWh, not below your 380');
    expect(at('DE', 381)).toBeUndefined();
    expect(at('FR', 300)).toBeUndefined();
  });

  test('an hour the schedule does not cover counts as not below the limit', () => {
    const later = noon + 3 * 3_600_000;
    expect(awayReason({ settings: settings({ gridRegion: 'FR', gridLimit: 300 }), now: later, grid })).toBe(
      "the run's grid schedule has no figure for FR at this hour (your limit: below 300 gCO₂/kWh)",
    );
  });

  test('no limit, no region or no schedule: the grid holds nothing', () => {
    expect(awayReason({ settings: settings({ gridRegion: 'DE', gridLimit: 0 }), now: noon, grid })).toBeUndefined();
    expect(awayReason({ settings: settings({ gridRegion: '', gridLimit: 100 }), now: noon, grid })).toBeUndefined();
    expect(
      awayReason({ settings: settings({ gridRegion: 'DE', gridLimit: 100 }), now: noon, grid: undefined }),
    ).toBeUndefined();
  });

  test('the hours come first', () => {
    const both = settings({ onlyHours: true, hoursFrom: hm(22), hoursTo: hm(7), gridRegion: 'DE', gridLimit: 100 });
    expect(awayReason({ settings: both, now: noon, grid })).toBe('outside your hours (22:00–07:00)');
  });
});

test('CPU pressure: serious halves the duty cycle; the others leave it (critical pauses instead)', () => {
  expect(dutyCycleUnder('serious', 0.5)).toBe(0.25);
  expect(dutyCycleUnder('serious', 1)).toBe(0.5);
  for (const pressure of ['nominal', 'fair', 'critical', undefined] as const)
    expect(dutyCycleUnder(pressure, 0.75)).toBe(0.75);
});
