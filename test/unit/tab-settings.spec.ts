// The volunteer's settings (src/tab/settings.ts): parseSettings fills defaults and replaces each
// invalid field on its own; pauseReason names why the GPU rests, in order of precedence (the hours,
// the grid and the machine's pressure last); today().
import { expect, test } from '@playwright/test';
import {
  DEFAULT_SETTINGS,
  DUTY_CYCLES,
  type PauseInputs,
  parseSettings,
  pauseReason,
  type Settings,
  today,
} from '../../src/tab';

const VALID: Settings = {
  running: true,
  dutyCycle: 0.75,
  pauseWhenHidden: true,
  pauseOnBattery: false,
  dailyBudgetMinutes: 30,
  onlyHours: true,
  hoursFrom: 23 * 60 + 30,
  hoursTo: 6 * 60,
  gridRegion: 'US-CAL-CISO',
  gridLimit: 250,
  adapterClass: 'integrated',
};

test.describe('parseSettings', () => {
  test('nothing stored (or not an object) gives the defaults', () => {
    for (const v of [undefined, null, {}, 'settings', 42, true, []]) expect(parseSettings(v)).toEqual(DEFAULT_SETTINGS);
    expect(DEFAULT_SETTINGS).toEqual({
      running: false,
      dutyCycle: 0.5,
      pauseWhenHidden: false,
      pauseOnBattery: true,
      dailyBudgetMinutes: 0,
      onlyHours: false,
      hoursFrom: 22 * 60,
      hoursTo: 7 * 60,
      gridRegion: '',
      gridLimit: 0,
      adapterClass: 'detected',
    });
  });

  test('valid settings come back as stored, without unknown fields', () => {
    expect(parseSettings(VALID)).toEqual(VALID);
    expect(parseSettings({ ...VALID, extra: 'x' })).toEqual(VALID);
    for (const dutyCycle of DUTY_CYCLES) expect(parseSettings({ ...VALID, dutyCycle }).dutyCycle).toBe(dutyCycle);
    for (const dailyBudgetMinutes of [0, 1, 24 * 60])
      expect(parseSettings({ ...VALID, dailyBudgetMinutes }).dailyBudgetMinutes).toBe(dailyBudgetMinutes);
    for (const hoursFrom of [0, 7 * 60, 24 * 60 - 1])
      expect(parseSettings({ ...VALID, hoursFrom }).hoursFrom).toBe(hoursFrom);
    for (const adapterClass of ['detected', 'software', 'discrete', 'unknown'] as const)
      expect(parseSettings({ ...VALID, adapterClass }).adapterClass).toBe(adapterClass);
    expect(parseSettings({ ...VALID, gridRegion: '' }).gridRegion).toBe('');
  });

  test('a missing field takes its default and leaves the others', () => {
    for (const key of Object.keys(VALID) as (keyof Settings)[]) {
      const stored: Partial<Settings> = { ...VALID };
      delete stored[key];
      expect(parseSettings(stored)).toEqual({ ...VALID, [key]: DEFAULT_SETTINGS[key] });
    }
  });

  /** Invalid values of each field: each is replaced by its default, the other fields kept. */
  const INVALID: Record<keyof Settings, unknown[]> = {
    running: ['true', 1, 0, null, {}],
    dutyCycle: [0, 0.3, 1.5, -0.5, '0.5', Number.NaN, null],
    pauseWhenHidden: ['yes', 1, null],
    pauseOnBattery: ['false', 0, null],
    dailyBudgetMinutes: [-1, 1.5, 24 * 60 + 1, '30', Number.NaN, Number.POSITIVE_INFINITY, null],
    onlyHours: ['yes', 1, null],
    hoursFrom: [-1, 24 * 60, 60.5, '22:00', Number.NaN, null],
    hoursTo: [-1, 24 * 60, 0.5, '07:00', Number.NaN, null],
    gridRegion: ['DE DE', 'x'.repeat(65), '<script>', 7, null],
    gridLimit: [-1, 2001, 1.5, '300', Number.NaN, null],
    adapterClass: ['gpu', 'Discrete', '', 3, null],
  };
  for (const [key, values] of Object.entries(INVALID) as [keyof Settings, unknown[]][]) {
    test(`an invalid ${key} takes the default ${String(DEFAULT_SETTINGS[key])}, field by field`, () => {
      for (const value of values)
        expect(parseSettings({ ...VALID, [key]: value }), `${key} = ${String(value)}`).toEqual({
          ...VALID,
          [key]: DEFAULT_SETTINGS[key],
        });
    });
  }
});

test.describe('pauseReason', () => {
  /** Inputs where nothing asks for a pause; each test switches on what it needs. */
  const working = (over: Partial<Settings> = {}, rest: Partial<Omit<PauseInputs, 'settings'>> = {}): PauseInputs => ({
    settings: {
      ...DEFAULT_SETTINGS,
      running: true,
      dutyCycle: 1,
      pauseWhenHidden: true,
      pauseOnBattery: true,
      dailyBudgetMinutes: 10,
      ...over,
    },
    hidden: false,
    onBattery: false,
    usedTodayMs: 0,
    ...rest,
  });

  test('works when running and nothing else applies', () => {
    expect(pauseReason(working())).toBeUndefined();
    expect(pauseReason(working({}, { onBattery: undefined }))).toBeUndefined();
  });

  test('each reason on its own', () => {
    expect(pauseReason(working({ running: false }))).toBe('paused by you');
    expect(pauseReason(working({}, { hidden: true }))).toBe('paused while this tab is hidden');
    expect(pauseReason(working({}, { onBattery: true }))).toBe('paused while on battery');
    expect(pauseReason(working({}, { usedTodayMs: 10 * 60_000 }))).toBe("today's GPU budget of 10 min is used");
  });

  test('a reason whose setting is off does not pause', () => {
    expect(pauseReason(working({ pauseWhenHidden: false }, { hidden: true }))).toBeUndefined();
    expect(pauseReason(working({ pauseOnBattery: false }, { onBattery: true }))).toBeUndefined();
    // No Battery Status API: unknown is not "on battery".
    expect(pauseReason(working({ pauseOnBattery: true }, { onBattery: undefined }))).toBeUndefined();
    // A budget of 0 means no limit.
    expect(pauseReason(working({ dailyBudgetMinutes: 0 }, { usedTodayMs: 24 * 3_600_000 }))).toBeUndefined();
  });

  test('the budget is used up at exactly its minutes, not a millisecond before', () => {
    expect(pauseReason(working({ dailyBudgetMinutes: 10 }, { usedTodayMs: 10 * 60_000 - 1 }))).toBeUndefined();
    expect(pauseReason(working({ dailyBudgetMinutes: 10 }, { usedTodayMs: 10 * 60_000 }))).toBe(
      "today's GPU budget of 10 min is used",
    );
    expect(pauseReason(working({ dailyBudgetMinutes: 10 }, { usedTodayMs: 11 * 60_000 }))).toBe(
      "today's GPU budget of 10 min is used",
    );
  });

  test('away (the hours, the grid) and critical CPU pressure pause; lighter pressure does not', () => {
    expect(pauseReason(working({}, { away: 'outside your hours (22:00–07:00)' }))).toBe(
      'outside your hours (22:00–07:00)',
    );
    expect(pauseReason(working({}, { pressure: 'critical' }))).toBe(
      'paused while the CPU is under critical pressure; resumes when it eases',
    );
    for (const pressure of ['nominal', 'fair', 'serious'] as const)
      expect(pauseReason(working({}, { pressure }))).toBeUndefined();
  });

  test('precedence: stopped by you, then hidden, then battery, then the budget, then away, then pressure', () => {
    const last = { away: 'outside your hours (22:00–07:00)', pressure: 'critical' as const };
    expect(pauseReason(working({}, { usedTodayMs: 60 * 60_000, ...last }))).toBe(
      "today's GPU budget of 10 min is used",
    );
    expect(pauseReason(working({}, last))).toBe('outside your hours (22:00–07:00)');
    expect(pauseReason(working({ running: false }, last))).toBe('paused by you');
  });

  test('precedence: stopped by you, then hidden, then battery, then the budget', () => {
    const all = { hidden: true, onBattery: true, usedTodayMs: 60 * 60_000 };
    expect(pauseReason(working({ running: false }, all))).toBe('paused by you');
    expect(pauseReason(working({}, all))).toBe('paused while this tab is hidden');
    expect(pauseReason(working({}, { ...all, hidden: false }))).toBe('paused while on battery');
    expect(pauseReason(working({ pauseWhenHidden: false }, all))).toBe('paused while on battery');
    expect(pauseReason(working({ pauseWhenHidden: false, pauseOnBattery: false }, all))).toBe(
      "today's GPU budget of 10 min is used",
    );
  });
});

test.describe('today', () => {
  test("is the local calendar date as YYYY-MM-DD (the budget resets at the volunteer's midnight)", () => {
    expect(today(new Date(2024, 2, 5, 12, 0, 0))).toBe('2024-03-05');
    expect(today(new Date(2024, 2, 5, 0, 0, 0, 0))).toBe('2024-03-05');
    expect(today(new Date(2024, 2, 5, 23, 59, 59, 999))).toBe('2024-03-05');
    expect(today(new Date(2024, 2, 6, 0, 0, 0, 0))).toBe('2024-03-06');
    expect(today(new Date(1999, 11, 31, 23, 59, 59))).toBe('1999-12-31');
  });

  test('defaults to now', () => {
    const before = new Date().toISOString().slice(0, 10);
    const t = today();
    const after = new Date().toISOString().slice(0, 10);
    expect(t).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect([before, after]).toContain(t);
  });
});
