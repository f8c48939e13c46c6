// When the tab holds beyond the volunteer's Pause: outside the hours they chose, while their grid is
// not below their threshold (the run's schedule, fed/grid.ts), and while the machine is under
// pressure (the Compute Pressure API). Outside their hours or above their threshold the tab leaves
// the run (the seed assigns it nothing); under pressure it only eases off, since that passes in
// seconds. Pure: the pacing (pacing.ts) and the unit tests give the inputs.
import { type GridSchedule, intensityAt } from '../fed';
import type { Settings } from './settings';

export const MINUTES_PER_DAY = 24 * 60;

/** Local hours as minutes after midnight; `from` after `to` wraps midnight (22:00–07:00). */
export interface HoursWindow {
  from: number;
  to: number;
}

/** Whether `minute` (after local midnight) lies in the window: its start in, its end out; from = to is all day. */
export function withinHours({ from, to }: HoursWindow, minute: number): boolean {
  if (from === to) return true;
  return from < to ? minute >= from && minute < to : minute >= from || minute < to;
}

export const minuteOfDay = (at: Date): number => at.getHours() * 60 + at.getMinutes();

/** "22:00" for 1320. */
export const clockTime = (minute: number): string =>
  `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;

export const hoursText = ({ from, to }: HoursWindow): string => `${clockTime(from)}–${clockTime(to)}`;

/** The region's grid intensity now, where the volunteer picked a region of the run's schedule. */
export function gridNow(settings: Settings, grid: GridSchedule | undefined, now: number): number | undefined {
  return grid && settings.gridRegion ? intensityAt(grid, settings.gridRegion, now) : undefined;
}

export interface AwayInputs {
  settings: Settings;
  /** Ms since the epoch; the hours are read in the browser's local time zone. */
  now: number;
  /** The run's grid schedule; undefined where the run publishes none (the grid option is then hidden). */
  grid: GridSchedule | undefined;
}

/**
 * Why the tab should stay out of the run now, or undefined while it may work: outside the volunteer's
 * hours, or while their region's grid is not below their threshold. An hour the schedule has no
 * figure for counts as not below it: the volunteer asked to work only when the grid is known clean.
 */
export function awayReason({ settings, now, grid }: AwayInputs): string | undefined {
  const hours = { from: settings.hoursFrom, to: settings.hoursTo };
  if (settings.onlyHours && !withinHours(hours, minuteOfDay(new Date(now))))
    return `outside your hours (${hoursText(hours)})`;
  if (!grid || !settings.gridRegion || settings.gridLimit <= 0) return undefined;
  const intensity = gridNow(settings, grid, now);
  if (intensity === undefined)
    return `the run's grid schedule has no figure for ${settings.gridRegion} at this hour (your limit: below ${settings.gridLimit} gCO₂/kWh)`;
  if (intensity >= settings.gridLimit)
    return `the grid in ${settings.gridRegion} is at ${Math.round(intensity)} gCO₂/kWh, not below your ${settings.gridLimit}`;
  return undefined;
}

/** The Compute Pressure API's states, lightest first. */
export const PRESSURE_STATES = ['nominal', 'fair', 'serious', 'critical'] as const;
export type PressureState = (typeof PRESSURE_STATES)[number];

/**
 * The duty cycle the trainer runs at under `pressure`: the volunteer's, halved while the CPU is under
 * serious pressure (critical pauses: settings.ts's pauseReason).
 */
export const dutyCycleUnder = (pressure: PressureState | undefined, dutyCycle: number): number =>
  pressure === 'serious' ? dutyCycle / 2 : dutyCycle;
