// What the volunteer's tab shows, and the one pure function that moves it: every part of the tab
// (seed link, downloads, pacing, participant, run status) reports events; reduce() turns each into
// the next state. No DOM, no I/O: unit-tested in Node.

import type { FetchProgress, PeerView, UploadStats } from '../swarm';
import type { ParticipantEvent } from './participant';
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
}

/** The tab's part in federated training. */
export interface TrainingView {
  /**
   * holding: the volunteer paused mid-round and the trainer waits before its next step (nothing in flight).
   * refused: the tab will not work for the seed as it is (a round past the tab's bounds, corrupted weights).
   */
  status: 'off' | 'joining' | 'waiting' | 'fetching' | 'training' | 'holding' | 'sending' | 'error' | 'refused';
  /** Why training is off, or the last error. */
  reason?: string;
  round?: number;
  step?: number;
  steps?: number;
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
  history: { round: number; tokens: number; valLoss: number }[];
}

export interface TabState {
  phase: 'connecting' | 'retrying' | 'downloading' | 'ready';
  seedUrl: string;
  /** The page this connection was drawn to: the seed's, or a helper seed's it lists. */
  seedPage?: string;
  peerId?: string;
  peers: PeerView[];
  downloads: DownloadView[];
  uploads: UploadStats;
  settings: Settings;
  /** Why the GPU rests right now (undefined: it may work). */
  pausedBecause?: string;
  gpu?: GpuView;
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
  | { type: 'pacing'; pausedBecause: string | undefined }
  | { type: 'gpu'; gpu: GpuView }
  /** Training cannot start on this tab, and why. */
  | { type: 'cannot-train'; reason: string }
  | { type: 'run-status'; global: GlobalView };

/** The run's figures from a seed's /status.json, or undefined if it does not hold them (a broken or hostile seed). */
export function parseGlobalView(json: unknown): GlobalView | undefined {
  const s = (json ?? {}) as Record<string, unknown>;
  const isCount = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  const isPoint = (p: unknown) => {
    const { round, tokens, valLoss } = (p ?? {}) as Record<string, unknown>;
    return isCount(round) && isCount(tokens) && typeof valLoss === 'number';
  };
  if (!isCount(s.round) || !isCount(s.volunteers) || !isCount(s.acceptedUpdates)) return undefined;
  if (!Array.isArray(s.history) || !s.history.every(isPoint)) return undefined;
  const history = s.history as GlobalView['history'];
  return {
    round: s.round as number,
    volunteers: s.volunteers as number,
    acceptedUpdates: s.acceptedUpdates as number,
    history: history.map(({ round, tokens, valLoss }) => ({ round, tokens, valLoss })),
  };
}

export const MAX_WARNINGS = 50;
export const MAX_LOSSES = 500;

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
    training: { status: 'off', losses: [], receipts: kept.receipts, gpuMs: kept.gpuMs, ...counts(kept.receipts) },
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
      return { ...s, pausedBecause: e.pausedBecause };
    case 'gpu':
      return { ...s, gpu: e.gpu };
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
        reason: undefined,
        losses: [...t.losses, { round: e.round, step: e.step, loss: e.loss }].slice(-MAX_LOSSES),
        gpuMs: t.gpuMs + e.gpuMs,
      });
    case 'holding':
      return training({ status: 'holding', round: e.round });
    case 'trained':
      return {
        ...s,
        speed: {
          tokensPerS: e.tokens / (e.busyMs / 1000),
          gflops: e.flops / (e.busyMs * 1e6),
          dutyMeasured: e.busyMs / (e.busyMs + e.idleMs),
        },
      };
    case 'sending':
      return training({ status: 'sending', round: e.round, lastUpdateBytes: e.bytes, lastDenseBytes: e.denseBytes });
    case 'sent':
      return training({ status: 'waiting', reason: undefined });
    case 'receipt': {
      const r = e.receipt;
      const receipts = [
        ...t.receipts,
        { round: r.round, accepted: true, tokens: r.tokens, flops: r.flops, bytes: r.bytes },
      ];
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
