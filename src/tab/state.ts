// What the volunteer's tab shows, and the one pure function that moves it: every part of the tab
// (seed link, downloads, pacing, participant, run status) reports events; reduce() turns each into
// the next state. No DOM, no I/O: unit-tested in Node.

import type { AdapterClass, Receipt } from '../fed';
import type { FetchProgress, PeerView, UploadStats } from '../swarm';
import type { PacingView } from './pacing';
import type { ParticipantEvent } from './participant';
import type { ResponsivenessView } from './responsiveness';
import type { Settings } from './settings';

export interface DownloadView extends FetchProgress {
  id: string;
  name: string;
  totalBytes: number;
  done: boolean;
  /** sha256 of the assembled vector, computed from the bytes the tab holds. */
  weightsSha256?: string;
}

/** What became of one round's update: credited (a signed receipt), or not (and why, when known). */
export interface ReceiptView {
  round: number;
  accepted: boolean;
  reason?: string;
  tokens: number;
  /** Verified training FLOPs the receipt credits (none for a receipt that predates them): the credits. */
  flops?: number;
  bytes: number;
  /** When the seed received the update (ms since the epoch); absent for an update not credited. */
  at?: number;
  /**
   * The receipt's impact figures (fed/impact.ts), where the update's header gave them: the GPU-busy
   * seconds the tab measured (capped by the seed at the round's length), the adapter class, the
   * energy estimate, and the grams of CO₂ where the run has a grid schedule for the chosen region.
   */
  gpuSeconds?: number;
  adapter?: AdapterClass;
  estimatedWh?: number;
  gCO2?: number;
}

/** What the page shows of a signed receipt. */
export function receiptView(r: Receipt): ReceiptView {
  const { round, tokens, flops, bytes, at, gpuSeconds, adapter, estimatedWh, gCO2 } = r;
  return { round, accepted: true, tokens, flops, bytes, at, gpuSeconds, adapter, estimatedWh, gCO2 };
}

/** The tab's part in federated training. */
export interface TrainingView {
  /**
   * holding: the volunteer paused mid-round and the trainer waits before its next step (nothing in flight).
   * away: the tab left the run for now (the volunteer's hours, the grid) and joins again when allowed.
   * refused: the tab will not work for the seed as it is (a round past the tab's bounds, corrupted weights).
   */
  status:
    | 'off'
    | 'joining'
    | 'waiting'
    | 'fetching'
    | 'training'
    | 'holding'
    | 'away'
    | 'sending'
    | 'error'
    | 'refused';
  /** Why training is off, or the last error. */
  reason?: string;
  round?: number;
  step?: number;
  steps?: number;
  /** The round whose weights the tab trains on (or last trained on). */
  weightsRound?: number;
  /**
   * The GPU-busy time the tab measured in each round it sent an update for, as its header said;
   * newest last, at most MAX_SENT_ROUNDS.
   */
  sent: { round: number; gpuMs: number }[];
  /** Local training losses, newest last (at most MAX_LOSSES). */
  losses: { round: number; step: number; loss: number }[];
  receipts: ReceiptView[];
  acceptedRounds: number;
  tokens: number;
  /** Verified training FLOPs of the credited rounds (impact.ts: one credit per GFLOP). */
  flops: number;
  /** GPU time spent in training steps, all sessions. */
  gpuMs: number;
  /** Bytes of the last update sent, and what the dense fp32 vector would have been. */
  lastUpdateBytes?: number;
  lastDenseBytes?: number;
  /** Bytes of the last round delta the weights were rebuilt from (instead of downloading them whole). */
  lastDeltaBytes?: number;
}

export interface GpuView {
  available: boolean;
  description?: string;
  features: string[];
  limits: Record<string, number>;
  /** Why this adapter cannot train (limits too small), if so. */
  tooSmall?: string;
  /** The adapter's class for the energy estimate, as the page detects it (the volunteer may correct it). */
  adapterClass: AdapterClass;
}

/** The adapter class the energy estimate uses: the volunteer's correction, else the class the page detected. */
export function adapterClassInUse(s: Pick<TabState, 'settings' | 'gpu'>): AdapterClass {
  const chosen = s.settings.adapterClass;
  return chosen === 'detected' ? (s.gpu?.adapterClass ?? 'unknown') : chosen;
}

/** The run's grid schedule, as the page offers it: where it comes from and its regions. */
export interface GridView {
  source: string;
  regions: string[];
}

export interface SpeedView {
  tokensPerS: number;
  gflops: number;
  /** Busy time over wall time in the last round: the duty cycle as measured. */
  dutyMeasured: number;
}

export interface GlobalView {
  round: number;
  volunteers: number;
  acceptedUpdates: number;
  /** Per round: tokens so far, validation loss, and the round's energy estimate where its updates gave one. */
  history: { round: number; tokens: number; valLoss: number; estimatedWh?: number }[];
}

export interface TabState extends PacingView {
  phase: 'connecting' | 'retrying' | 'downloading' | 'ready';
  seedUrl: string;
  /** The page this connection was drawn to: the seed's, or a helper seed's it lists. */
  seedPage?: string;
  peerId?: string;
  peers: PeerView[];
  downloads: DownloadView[];
  uploads: UploadStats;
  settings: Settings;
  gpu?: GpuView;
  /** The run's grid schedule; undefined where the run publishes none (the grid option is then hidden). */
  grid?: GridView;
  /** The page's own effect on the machine while it trains. */
  responsiveness?: ResponsivenessView;
  speed?: SpeedView;
  global?: GlobalView;
  training: TrainingView;
  /** Newest last; at most MAX_WARNINGS. */
  warnings: string[];
  /** Why the last attempt to reach the seed failed, while retrying. */
  error?: string;
  retryAt?: number;
}

export type TabEvent =
  | ParticipantEvent
  | { type: 'seed-unreachable'; error: string; retryAt: number }
  | { type: 'connected'; peerId: string; seedPage: string }
  | { type: 'swarm'; peers: PeerView[]; uploads: UploadStats }
  | { type: 'download'; download: DownloadView }
  /** The seed retired these weights mid-download (newer ones replaced them): no longer shown. */
  | { type: 'download-dropped'; id: string }
  | { type: 'downloads-done' }
  | { type: 'warning'; text: string }
  | { type: 'settings'; settings: Settings }
  | { type: 'pacing'; view: PacingView }
  | { type: 'gpu'; gpu: GpuView }
  | { type: 'grid'; grid: GridView | undefined }
  | { type: 'responsiveness'; view: ResponsivenessView }
  /** Training cannot start on this tab, and why. */
  | { type: 'cannot-train'; reason: string }
  | { type: 'run-status'; global: GlobalView };

/** The run's figures from a seed's /status.json, or undefined if it does not hold them (a broken or hostile seed). */
export function parseGlobalView(json: unknown): GlobalView | undefined {
  const s = (json ?? {}) as Record<string, unknown>;
  const isCount = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  const isPoint = (p: unknown) => {
    const { round, tokens, valLoss, estimatedWh } = (p ?? {}) as Record<string, unknown>;
    return (
      isCount(round) &&
      isCount(tokens) &&
      typeof valLoss === 'number' &&
      (estimatedWh === undefined || isCount(estimatedWh))
    );
  };
  if (!isCount(s.round) || !isCount(s.volunteers) || !isCount(s.acceptedUpdates)) return undefined;
  if (!Array.isArray(s.history) || !s.history.every(isPoint)) return undefined;
  const history = s.history as GlobalView['history'];
  return {
    round: s.round as number,
    volunteers: s.volunteers as number,
    acceptedUpdates: s.acceptedUpdates as number,
    history: history.map(({ round, tokens, valLoss, estimatedWh }) => ({ round, tokens, valLoss, estimatedWh })),
  };
}

export const MAX_WARNINGS = 50;
export const MAX_LOSSES = 500;
export const MAX_SENT_ROUNDS = 20;

/** The state a tab starts in, from what it kept in IndexedDB. */
export function initialState(seedUrl: string, kept: { settings: Settings; receipts: ReceiptView[]; gpuMs: number }) {
  const state: TabState = {
    phase: 'connecting',
    seedUrl,
    peers: [],
    downloads: [],
    uploads: { uploadedBytes: 0, piecesServed: 0, refused: 0 },
    warnings: [],
    settings: kept.settings,
    pausedBecause: undefined,
    awayBecause: undefined,
    dutyCycleNow: kept.settings.dutyCycle,
    pressure: undefined,
    gridIntensity: undefined,
    gpuTodayMs: 0,
    training: {
      status: 'off',
      losses: [],
      sent: [],
      receipts: kept.receipts,
      gpuMs: kept.gpuMs,
      ...counts(kept.receipts),
    },
  };
  return state;
}

function counts(receipts: ReceiptView[]): Pick<TrainingView, 'acceptedRounds' | 'tokens' | 'flops'> {
  const accepted = receipts.filter((r) => r.accepted);
  return {
    acceptedRounds: accepted.length,
    tokens: accepted.reduce((n, r) => n + r.tokens, 0),
    flops: accepted.reduce((n, r) => n + (r.flops ?? 0), 0),
  };
}

/** The next state after `e`. Never mutates `s`. */
export function reduce(s: TabState, e: TabEvent): TabState {
  const t = s.training;
  const training = (change: Partial<TrainingView>): TabState => ({ ...s, training: { ...t, ...change } });
  switch (e.type) {
    case 'seed-unreachable':
      return { ...s, phase: 'retrying', error: `seed unreachable: ${e.error}`, retryAt: e.retryAt };
    case 'connected':
      return {
        ...s,
        phase: 'downloading',
        peerId: e.peerId,
        seedPage: e.seedPage,
        error: undefined,
        retryAt: undefined,
      };
    case 'swarm':
      return { ...s, peers: e.peers, uploads: e.uploads };
    case 'download': {
      const known = s.downloads.some((d) => d.id === e.download.id);
      const downloads = known
        ? s.downloads.map((d) => (d.id === e.download.id ? e.download : d))
        : [...s.downloads, e.download];
      return { ...s, downloads };
    }
    case 'download-dropped':
      return { ...s, downloads: s.downloads.filter((d) => d.id !== e.id) };
    case 'downloads-done':
      return { ...s, phase: 'ready' };
    case 'warning':
      return { ...s, warnings: [...s.warnings, e.text].slice(-MAX_WARNINGS) };
    case 'settings':
      return { ...s, settings: e.settings };
    case 'pacing':
      return { ...s, ...e.view };
    case 'gpu':
      return { ...s, gpu: e.gpu };
    case 'grid':
      return { ...s, grid: e.grid };
    case 'responsiveness':
      return { ...s, responsiveness: e.view };
    case 'cannot-train':
      return training({ reason: e.reason });
    case 'run-status':
      return { ...s, global: e.global };
    case 'joining':
      return training({ status: 'joining' });
    case 'joined':
      return training({ status: 'waiting', round: e.round });
    case 'waiting':
      return training({ status: 'waiting', round: e.round ?? t.round });
    case 'fetching':
      return training({ status: 'fetching', round: e.round });
    case 'delta':
      return training({ lastDeltaBytes: e.bytes });
    case 'second-moment':
      return s;
    case 'delta-refused':
      return {
        ...s,
        warnings: [
          ...s.warnings,
          `round ${e.round}: its delta was not used (${e.reason}); downloading the whole weights`,
        ].slice(-MAX_WARNINGS),
      };
    case 'step':
      return training({
        status: 'training',
        round: e.round,
        step: e.step,
        steps: e.steps,
        weightsRound: e.round,
        reason: undefined,
        losses: [...t.losses, { round: e.round, step: e.step, loss: e.loss }].slice(-MAX_LOSSES),
        gpuMs: t.gpuMs + e.gpuMs,
      });
    case 'holding':
      return training({ status: 'holding', round: e.round });
    case 'away':
      return training({ status: 'away', reason: e.reason });
    case 'trained':
      return {
        ...s,
        // A round given up before its first step (a newer round, away) tells nothing of the speed.
        speed:
          e.busyMs > 0
            ? {
                tokensPerS: e.tokens / (e.busyMs / 1000),
                gflops: e.flops / (e.busyMs * 1e6),
                dutyMeasured: e.busyMs / (e.busyMs + e.idleMs),
              }
            : s.speed,
      };
    case 'sending':
      return training({
        status: 'sending',
        round: e.round,
        lastUpdateBytes: e.bytes,
        lastDenseBytes: e.denseBytes,
        sent: [...t.sent, { round: e.round, gpuMs: e.gpuMs }].slice(-MAX_SENT_ROUNDS),
      });
    case 'sent':
      return training({ status: 'waiting', reason: undefined });
    case 'receipt': {
      const receipts = [...t.receipts, receiptView(e.receipt)];
      return training({ receipts, ...counts(receipts) });
    }
    case 'not-credited': {
      const receipts = [
        ...t.receipts,
        { round: e.round, accepted: false, reason: e.reason, tokens: 0, bytes: t.lastUpdateBytes ?? 0 },
      ];
      return training({ receipts, ...counts(receipts), reason: `round ${e.round} not credited: ${e.reason}` });
    }
    case 'skipped':
      return training({ status: 'waiting', reason: `round ${e.round} skipped: ${e.reason}` });
    case 'send-later':
      return training({
        status: 'sending',
        reason: `the seed refused round ${e.round}'s update for now (${e.reason}); sending it again in ${Math.ceil(e.retryInMs / 1000)} s`,
      });
    case 'error':
      return training({ status: 'error', reason: `${e.message} (retrying in ${Math.round(e.retryInMs / 1000)} s)` });
    case 'round-refused':
      return training({
        status: 'refused',
        round: e.round,
        reason: `the seed's round ${e.round} asks more than this tab allows (${e.reason}), so it was not trained; the seed is misconfigured or hostile — contact the researcher`,
      });
    case 'seed-corrupt': {
      const retry = e.retryInMs === undefined ? '' : ` (trying again in ${Math.round(e.retryInMs / 60_000)} min)`;
      return training({
        status: 'refused',
        reason: `the seed served ${e.corruptPieces} corrupted pieces of the weights; it is broken or hostile — contact the researcher${retry}`,
      });
    }
  }
}
