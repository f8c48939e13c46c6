// The tab's pacing: it keeps the volunteer's settings and today's GPU time, watches the tab's
// visibility, the battery, the machine's CPU pressure, the clock (the volunteer's hours) and the
// run's grid schedule, turns them into "paused or not", "away or not" and a duty cycle (settings.ts,
// hold.ts) and hands the result to the trainer, which applies it between steps. The participant
// reads "away" (Availability) to leave the run and join it again.
import type { GridSchedule } from '../fed';
import type { ProgressStore } from '../storage';
import type { Trainer } from '../trainer';
import { type Clock, systemClock } from '../util/clock';
import { awayReason, dutyCycleUnder, gridNow, PRESSURE_STATES, type PressureState } from './hold';
import type { Availability } from './participant';
import { GPU_DAY_KEY, type GpuDay, pauseReason, SETTINGS_KEY, type Settings, today } from './settings';

/** How often the pacing looks at the clock again: the volunteer's hours and the grid's hours move with it. */
export const HOLD_CHECK_MS = 5_000;
/** How often the Compute Pressure API is asked to sample (it reports only changes). */
export const PRESSURE_SAMPLE_MS = 2_000;

/** What the browser tells about the machine; the page passes the real one, tests a fake. */
export interface PacingEnvironment {
  hidden(): boolean;
  onVisibilityChange(listener: () => void): void;
  /** Calls `listener(onBattery)` now and whenever the charger is plugged or unplugged; absent without the Battery API. */
  watchBattery?(listener: (onBattery: boolean) => void): void;
  /**
   * Calls `listener` with each CPU pressure state the Compute Pressure API reports; resolves false
   * where the browser has no such API or refuses it. Absent: no such API.
   */
  watchPressure?(listener: (state: PressureState) => void): Promise<boolean>;
}

/** What the pacing decided, for the page. */
export interface PacingView {
  /** Why the GPU rests right now (undefined: it may work). */
  pausedBecause: string | undefined;
  /** Why the tab is out of the run now (its hours, the grid): the seed assigns it nothing. */
  awayBecause: string | undefined;
  /** The duty cycle the trainer runs at: the volunteer's, halved under serious CPU pressure. */
  dutyCycleNow: number;
  /** The CPU pressure reported; 'unsupported' without the Compute Pressure API; undefined before a first report. */
  pressure: PressureState | 'unsupported' | undefined;
  /** The volunteer's region's grid intensity now (gCO₂/kWh), where the run's schedule has it. */
  gridIntensity: number | undefined;
  /** GPU time spent in training steps today. */
  gpuTodayMs: number;
}

export interface PacingControl extends Availability {
  readonly settings: Settings;
  readonly view: PacingView;
  update(change: Partial<Settings>): Promise<void>;
  /** Adds GPU time spent in a training step to today's, and re-applies the daily budget. */
  spent(gpuMs: number): void;
  /** From now on the pacing also goes to this trainer. */
  attach(trainer: Trainer): void;
  /** The run's grid schedule (undefined: the run publishes none). */
  setGrid(grid: GridSchedule | undefined): void;
}

export interface PacingDeps {
  store: ProgressStore;
  environment: PacingEnvironment;
  settings: Settings;
  gpuDay: GpuDay;
  /** Called with each change of the settings or of what the pacing decided. */
  onChange(settings: Settings, view: PacingView): void;
  /** The time the volunteer's hours are read against; the system's by default. */
  clock?: Clock;
}

export function createPacing(deps: PacingDeps): PacingControl {
  const { store, environment } = deps;
  const clock = deps.clock ?? systemClock;
  let settings = deps.settings;
  const gpuDay = { ...deps.gpuDay };
  let onBattery: boolean | undefined;
  let pressure: PacingView['pressure'];
  let grid: GridSchedule | undefined;
  let trainer: Trainer | undefined;
  let view: PacingView;
  let shown: { settings: Settings; view: PacingView } | undefined;
  /** Waiters of until(): each resolves once "away or not" is what it waits for. */
  const waiters = new Set<{ away: boolean; resolve: () => void }>();

  function apply(): void {
    const now = clock.now();
    if (gpuDay.day !== today(new Date(now))) Object.assign(gpuDay, { day: today(new Date(now)), busyMs: 0 });
    const measured = pressure === 'unsupported' ? undefined : pressure;
    const awayBecause = awayReason({ settings, now, grid });
    view = {
      pausedBecause: pauseReason({
        settings,
        hidden: environment.hidden(),
        onBattery,
        usedTodayMs: gpuDay.busyMs,
        away: awayBecause,
        pressure: measured,
      }),
      awayBecause,
      dutyCycleNow: dutyCycleUnder(measured, settings.dutyCycle),
      pressure,
      gridIntensity: gridNow(settings, grid, now),
      gpuTodayMs: gpuDay.busyMs,
    };
    void trainer?.setPacing({ dutyCycle: view.dutyCycleNow, paused: view.pausedBecause !== undefined });
    for (const w of waiters) if (w.away === (awayBecause !== undefined)) w.resolve();
    // Told only on a change: the clock is looked at every HOLD_CHECK_MS.
    const changed =
      shown?.settings !== settings ||
      (Object.keys(view) as (keyof PacingView)[]).some((k) => view[k] !== shown?.view[k]);
    if (!changed) return;
    shown = { settings, view };
    deps.onChange(settings, view);
  }

  environment.onVisibilityChange(apply);
  environment.watchBattery?.((battery) => {
    onBattery = battery;
    apply();
  });
  const pressureWatched = environment.watchPressure?.((state) => {
    if (state === pressure || !PRESSURE_STATES.includes(state)) return;
    pressure = state;
    apply();
  });
  void (pressureWatched ?? Promise.resolve(false)).then((watched) => {
    if (watched) return;
    pressure = 'unsupported';
    apply();
  });
  const tick = () => {
    apply();
    clock.after(HOLD_CHECK_MS, tick);
  };
  tick();

  return {
    get settings() {
      return settings;
    },
    get view() {
      return view;
    },
    get awayBecause() {
      return view.awayBecause;
    },
    until(away, signal) {
      return new Promise<void>((resolve) => {
        if ((view.awayBecause !== undefined) === away || signal.aborted) return resolve();
        const waiter = {
          away,
          resolve: () => {
            waiters.delete(waiter);
            signal.removeEventListener('abort', waiter.resolve);
            resolve();
          },
        };
        waiters.add(waiter);
        signal.addEventListener('abort', waiter.resolve, { once: true });
      });
    },
    async update(change) {
      settings = { ...settings, ...change };
      await store.setProgress(SETTINGS_KEY, settings);
      apply();
    },
    spent(gpuMs) {
      gpuDay.busyMs += gpuMs;
      void store.setProgress(GPU_DAY_KEY, gpuDay);
      apply();
    },
    attach(next) {
      trainer = next;
      apply();
    },
    setGrid(next) {
      grid = next;
      apply();
    },
  };
}

/** The Compute Pressure API's observer, as far as the pacing uses it (TypeScript's DOM types lack it). */
interface PressureObserverLike {
  observe(source: 'cpu', options?: { sampleInterval?: number }): Promise<void>;
}
type PressureObserverConstructor = new (
  callback: (records: { state: PressureState }[]) => void,
) => PressureObserverLike;

/** The page's environment: its visibility and, where the browser has them, the Battery and Compute Pressure APIs. */
export function browserPacingEnvironment(): PacingEnvironment {
  type Battery = { charging: boolean; addEventListener(type: 'chargingchange', f: () => void): void };
  const getBattery = (navigator as Navigator & { getBattery?: () => Promise<Battery> }).getBattery;
  const Pressure = (globalThis as { PressureObserver?: PressureObserverConstructor }).PressureObserver;
  return {
    hidden: () => document.hidden,
    onVisibilityChange: (listener) => document.addEventListener('visibilitychange', listener),
    watchBattery: getBattery
      ? (listener) => {
          getBattery
            .call(navigator)
            .then((b) => {
              const update = () => listener(!b.charging);
              b.addEventListener('chargingchange', update);
              update();
            })
            .catch(() => {});
        }
      : undefined,
    watchPressure: Pressure
      ? async (listener) => {
          const observer = new Pressure((records) => {
            const last = records.at(-1);
            if (last) listener(last.state);
          });
          // Refused where a policy or the platform says no (NotAllowedError, NotSupportedError).
          return observer.observe('cpu', { sampleInterval: PRESSURE_SAMPLE_MS }).then(
            () => true,
            () => false,
          );
        }
      : undefined,
  };
}
