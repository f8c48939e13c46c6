// What a volunteer decides about their GPU, kept in IndexedDB, and the rule that turns it (and
// the tab's visibility, the battery, the day's budget) into "paused or not".

export interface Settings {
  /** The volunteer pressed Start (and not Pause since): a reload resumes on its own. */
  running: boolean;
  /** Fraction of time the GPU may be busy: 0.25, 0.5, 0.75 or 1. */
  dutyCycle: number;
  pauseWhenHidden: boolean;
  pauseOnBattery: boolean;
  /** GPU minutes per calendar day; 0 means no limit. */
  dailyBudgetMinutes: number;
}

export const DEFAULT_SETTINGS: Settings = {
  running: false,
  dutyCycle: 0.5,
  pauseWhenHidden: false,
  pauseOnBattery: true,
  dailyBudgetMinutes: 0,
};
export const DUTY_CYCLES = [0.25, 0.5, 0.75, 1];
export const SETTINGS_KEY = 'settings';
/** GPU time used today: { day: 'YYYY-MM-DD', busyMs }. */
export const GPU_DAY_KEY = 'gpu-day';

export interface GpuDay {
  day: string;
  busyMs: number;
}

/** The volunteer's local calendar day, YYYY-MM-DD: the daily budget resets at their midnight. */
export const today = (now = new Date()): string =>
  `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;

/** Settings read back from storage, with anything missing or invalid replaced by the default. */
export function parseSettings(value: unknown): Settings {
  const v = (value ?? {}) as Partial<Record<keyof Settings, unknown>>;
  const pick = <K extends keyof Settings>(k: K, ok: (x: unknown) => boolean): Settings[K] =>
    (ok(v[k]) ? v[k] : DEFAULT_SETTINGS[k]) as Settings[K];
  const bool = (x: unknown) => typeof x === 'boolean';
  return {
    running: pick('running', bool),
    dutyCycle: pick('dutyCycle', (x) => DUTY_CYCLES.includes(x as number)),
    pauseWhenHidden: pick('pauseWhenHidden', bool),
    pauseOnBattery: pick('pauseOnBattery', bool),
    dailyBudgetMinutes: pick(
      'dailyBudgetMinutes',
      (x) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 24 * 60,
    ),
  };
}

export interface PauseInputs {
  settings: Settings;
  hidden: boolean;
  /** From the Battery Status API; undefined where the browser does not offer it. */
  onBattery: boolean | undefined;
  usedTodayMs: number;
}

/** Why the GPU should rest right now, or undefined to work. */
export function pauseReason({ settings, hidden, onBattery, usedTodayMs }: PauseInputs): string | undefined {
  if (!settings.running) return 'paused by you';
  if (settings.pauseWhenHidden && hidden) return 'paused while this tab is hidden';
  if (settings.pauseOnBattery && onBattery) return 'paused while on battery';
  if (settings.dailyBudgetMinutes > 0 && usedTodayMs >= settings.dailyBudgetMinutes * 60_000)
    return `today's GPU budget of ${settings.dailyBudgetMinutes} min is used`;
  return undefined;
}
