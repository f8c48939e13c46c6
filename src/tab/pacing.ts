// The tab's pacing: it keeps the volunteer's settings and today's GPU time, watches the tab's
// visibility and the battery, turns them into "paused or not" (pauseReason) and hands the result
// to the trainer, which applies it between steps.
import type { ProgressStore } from '../storage';
import type { Trainer } from '../trainer';
import { GPU_DAY_KEY, type GpuDay, pauseReason, SETTINGS_KEY, type Settings, today } from './settings';

/** What the browser tells about the machine; the page passes the real one, tests a fake. */
export interface PacingEnvironment {
  hidden(): boolean;
  onVisibilityChange(listener: () => void): void;
  /** Calls `listener(onBattery)` now and whenever the charger is plugged or unplugged; absent without the Battery API. */
  watchBattery?(listener: (onBattery: boolean) => void): void;
}

export interface PacingControl {
  readonly settings: Settings;
  /** Why the GPU rests right now (undefined: it may work). */
  readonly pausedBecause: string | undefined;
  update(change: Partial<Settings>): Promise<void>;
  /** Adds GPU time spent in a training step to today's, and re-applies the daily budget. */
  spent(gpuMs: number): void;
  /** From now on the pacing also goes to this trainer. */
  attach(trainer: Trainer): void;
}

export interface PacingDeps {
  store: ProgressStore;
  environment: PacingEnvironment;
  settings: Settings;
  gpuDay: GpuDay;
  /** Called with each change of the settings or of the pause reason. */
  onChange(settings: Settings, pausedBecause: string | undefined): void;
}

export function createPacing(deps: PacingDeps): PacingControl {
  const { store, environment } = deps;
  let settings = deps.settings;
  const gpuDay = { ...deps.gpuDay };
  let onBattery: boolean | undefined;
  let trainer: Trainer | undefined;
  let pausedBecause: string | undefined;

  function apply(): void {
    if (gpuDay.day !== today()) Object.assign(gpuDay, { day: today(), busyMs: 0 });
    pausedBecause = pauseReason({ settings, hidden: environment.hidden(), onBattery, usedTodayMs: gpuDay.busyMs });
    void trainer?.setPacing({ dutyCycle: settings.dutyCycle, paused: pausedBecause !== undefined });
    deps.onChange(settings, pausedBecause);
  }

  environment.onVisibilityChange(apply);
  environment.watchBattery?.((battery) => {
    onBattery = battery;
    apply();
  });
  apply();

  return {
    get settings() {
      return settings;
    },
    get pausedBecause() {
      return pausedBecause;
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
  };
}

/** The page's environment: document visibility and, where the browser has it, the Battery Status API. */
export function browserPacingEnvironment(): PacingEnvironment {
  type Battery = { charging: boolean; addEventListener(type: 'chargingchange', f: () => void): void };
  const getBattery = (navigator as Navigator & { getBattery?: () => Promise<Battery> }).getBattery;
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
  };
}
