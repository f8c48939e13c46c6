// The volunteer's tab without its DOM: the parts that run on the page's main thread (seed link,
// downloads, pacing (visibility, battery, CPU pressure, the volunteer's hours and grid threshold),
// the trainer worker's client, the participant loop, the page's own responsiveness) and the state
// they reduce into. src/ui renders that state; a headless volunteer can run the same parts.

export { connectToSeed, HELPER_FAILOVER_MS, isLocalHost, seedUrlFromLocation, stayConnected } from './connect';
export { REQUIRED_LIMITS } from './gpu-probe';
export {
  awayReason,
  clockTime,
  dutyCycleUnder,
  hoursText,
  MINUTES_PER_DAY,
  minuteOfDay,
  type PressureState,
  withinHours,
} from './hold';
export * from './limits';
export {
  createPacing,
  HOLD_CHECK_MS,
  type PacingControl,
  type PacingEnvironment,
  type PacingView,
} from './pacing';
export {
  type Availability,
  type ParticipantEvent,
  type ParticipantOptions,
  RECEIPTS_KEY,
  runParticipant,
} from './participant';
export type { ResponsivenessView } from './responsiveness';
export { admitRound, checkRound, RoundRefusedError } from './round-check';
export {
  DEFAULT_SETTINGS,
  DUTY_CYCLES,
  type GpuDay,
  type PauseInputs,
  parseSettings,
  pauseReason,
  type Settings,
  today,
} from './settings';
export {
  adapterClassInUse,
  type DownloadView,
  type GlobalView,
  type GpuView,
  type GridView,
  initialState,
  MAX_LOSSES,
  MAX_SENT_ROUNDS,
  MAX_WARNINGS,
  parseGlobalView,
  type ReceiptView,
  reduce,
  type SpeedView,
  type TabEvent,
  type TabState,
  type TrainingView,
} from './state';
export { startTrainerWorker, type TrainerWorker } from './trainer-client';
export { type TryResult, tryModel } from './try-model';
export { GPU_TOTAL_KEY, startVolunteer, type Volunteer, type VolunteerOptions } from './volunteer';
