// What a volunteer decides about their GPU, kept in IndexedDB, and the rule that turns it (and
// the tab's visibility, the battery, the day's budget, the hours and the grid, the machine's
// pressure) into "paused or not".
import { ADAPTER_CLASSES, type AdapterClass, MAX_GCO2_PER_KWH } from '../fed';
import { MINUTES_PER_DAY, type PressureState } from './hold';

export interface Settings {
  /** The volunteer pressed Start (and not Pause since): a reload resumes on its own. */
  running: boolean;
  /** Fraction of time the GPU may be busy: 0.25, 0.5, 0.75 or 1. */
  dutyCycle: number;
  pauseWhenHidden: boolean;
  pauseOnBattery: boolean;
  /** GPU minutes per calendar day; 0 means no limit. */
  dailyBudgetMinutes: number;
  /** Contribute only from hoursFrom to hoursTo (minutes after local midnight; from after to wraps midnight). */
  onlyHours: boolean;
  hoursFrom: number;
  hoursTo: number;
  /** The grid region the volunteer picked by hand from the run's schedule; '' for none. */
  gridRegion: string;
  /** Contribute only while the region's grid is below this many gCO₂/kWh; 0: whatever the grid. */
  gridLimit: number;
  /** The adapter's class for the energy estimate, as the volunteer corrected it; 'detected': the page's guess. */
  adapterClass: AdapterClass | 'detected';
}

export const DEFAULT_SETTINGS: Settings = {
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
};
export const DUTY_CYCLES = [0.25, 0.5, 0.75, 1];
export const SETTINGS_KEY = 'settings';
/** GPU time used today: { day: 'YYYY-MM-DD', busyMs }. */
export const GPU_DAY_KEY = 'gpu-day';
/** A grid region's id, as the run's schedule names it (fed/grid.ts). */
const REGION = /^[A-Za-z0-9_-]{1,64}$/;

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
  const integer = (max: number) => (x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= max;
  return {
    running: pick('running', bool),
    dutyCycle: pick('dutyCycle', (x) => DUTY_CYCLES.includes(x as number)),
    pauseWhenHidden: pick('pauseWhenHidden', bool),
    pauseOnBattery: pick('pauseOnBattery', bool),
    dailyBudgetMinutes: pick('dailyBudgetMinutes', integer(24 * 60)),
    onlyHours: pick('onlyHours', bool),
    hoursFrom: pick('hoursFrom', integer(MINUTES_PER_DAY - 1)),
    hoursTo: pick('hoursTo', integer(MINUTES_PER_DAY - 1)),
    gridRegion: pick('gridRegion', (x) => x === '' || (typeof x === 'string' && REGION.test(x))),
    gridLimit: pick('gridLimit', integer(MAX_GCO2_PER_KWH)),
    adapterClass: pick('adapterClass', (x) => x === 'detected' || ADAPTER_CLASSES.includes(x as AdapterClass)),
  };
}

export interface PauseInputs {
  settings: Settings;
  hidden: boolean;
  /** From the Battery Status API; undefined where the browser does not offer it. */
  onBattery: boolean | undefined;
  usedTodayMs: number;
  /** Why the tab stays out of the run now (hold.ts: its hours, the grid); undefined while it may work. */
  away?: string;
  /** The CPU pressure the Compute Pressure API reports; undefined where it reports none. */
  pressure?: PressureState;
}

/** Why the GPU should rest right now, or undefined to work. */
export function pauseReason({
  settings,
  hidden,
  onBattery,
  usedTodayMs,
  away,
  pressure,
}: PauseInputs): string | undefined {
  if (!settings.running) return 'paused by you';
  if (settings.pauseWhenHidden && hidden) return 'paused while this tab is hidden';
  if (settings.pauseOnBattery && onBattery) return 'paused while on battery';
  if (settings.dailyBudgetMinutes > 0 && usedTodayMs >= settings.dailyBudgetMinutes * 60_000)
    return `today's GPU budget of ${settings.dailyBudgetMinutes} min is used`;
  if (away) return away;
  if (pressure === 'critical') return 'paused while the CPU is under critical pressure; resumes when it eases';
  return undefined;
}
