// The volunteer's tab, as the page runs it: restore identity, settings, cached pieces and the
// contribution history from IndexedDB; find the seed (retrying with backoff); join the swarm and
// download the weights; once the volunteer presses Start, join the federated run and train in
// the worker, paced by the volunteer's settings; poll the run's status for the page.
import * as Comlink from 'comlink';
import type { TrainerApi } from '../../workers/trainer.worker';
import { type ParticipantEvent, RECEIPTS_KEY, type Receipt, runParticipant } from '../fed';
import { openStorage, type Storage } from '../storage';
import {
  type FetchProgress,
  type PeerView,
  type PieceStore,
  parseSeedInfo,
  type SignedDocument,
  type SwarmClient,
  sha256Hex,
  startSwarmClient,
  type UploadStats,
  verifyManifest,
} from '../swarm';
import { type CreditsFile, summarise } from './credits';
import { GPU_DAY_KEY, type GpuDay, parseSettings, pauseReason, SETTINGS_KEY, type Settings, today } from './settings';

export interface DownloadView extends FetchProgress {
  id: string;
  name: string;
  totalBytes: number;
  done: boolean;
  /** sha256 of the assembled vector, computed from the bytes the tab holds. */
  weightsSha256?: string;
}

/** The tab's part in federated training. */
export interface TrainingView {
  status: 'off' | 'joining' | 'waiting' | 'fetching' | 'training' | 'sending' | 'error';
  /** Why training is off, or the last error. */
  reason?: string;
  round?: number;
  step?: number;
  steps?: number;
  /** Local training losses, newest last (at most MAX_LOSSES). */
  losses: { round: number; step: number; loss: number }[];
  receipts: Pick<Receipt, 'round' | 'accepted' | 'reason' | 'tokens' | 'bytes'>[];
  acceptedRounds: number;
  tokens: number;
  /** GPU time spent in training steps, all sessions. */
  gpuMs: number;
  /** Bytes of the last update sent, and what the dense fp32 vector would have been. */
  lastUpdateBytes?: number;
  lastDenseBytes?: number;
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

export interface VolunteerState {
  phase: 'connecting' | 'retrying' | 'downloading' | 'ready';
  seedUrl: string;
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

const MAX_WARNINGS = 50;
const MAX_LOSSES = 500;
/** Backoff between attempts to reach the seed: doubles from the first to the last. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;
/** How often the page reads the run's /status.json. */
const STATUS_POLL_MS = 5_000;
/** Limits below which our kernels cannot run the model (checked before training). */
const REQUIRED_LIMITS: Record<string, number> = {
  maxComputeWorkgroupStorageSize: 16 * 1024,
  maxComputeInvocationsPerWorkgroup: 256,
  maxStorageBufferBindingSize: 64 * 1024 * 1024,
};
const SHOWN_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
];

/** The seed named by `?seed=` (its base URL), else the origin that served this page. */
export function seedUrlFromLocation(location: Location): string {
  return new URL(
    location.search ? (new URLSearchParams(location.search).get('seed') ?? location.origin) : location.origin,
  ).origin;
}

/** Loopback and private addresses: browsers' libp2p refuses them unless told this is a local run. */
export function isLocalHost(hostname: string): boolean {
  return /^(localhost|127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|\[?::1\]?$)/.test(hostname);
}

export interface VolunteerOptions {
  seedUrl: string;
  onChange(state: VolunteerState): void;
  /** The piece store to use instead of IndexedDB's (the misbehaving-tab test wraps it). */
  wrapStore?(store: PieceStore): PieceStore;
}

export interface Volunteer {
  state: VolunteerState;
  client?: SwarmClient;
  storage: Storage;
  /** Start contributing (and remember it), or pause. */
  setRunning(running: boolean): Promise<void>;
  updateSettings(change: Partial<Settings>): Promise<void>;
  /** The receipts behind the contribution, as a verifiable file. */
  creditsFile(): Promise<CreditsFile>;
}

async function describeGpu(): Promise<GpuView> {
  const adapter = 'gpu' in navigator ? await navigator.gpu.requestAdapter().catch(() => null) : null;
  if (!adapter) return { available: false, features: [], limits: {} };
  const limits: Record<string, number> = {};
  for (const k of SHOWN_LIMITS) limits[k] = Number(adapter.limits[k as keyof GPUSupportedLimits]);
  const short = Object.entries(REQUIRED_LIMITS).filter(
    ([k, need]) => Number(adapter.limits[k as keyof GPUSupportedLimits]) < need,
  );
  const info = adapter.info;
  return {
    available: true,
    description: [info.description || info.architecture, info.vendor].filter(Boolean).join(' · ') || 'unknown adapter',
    features: [...adapter.features].sort(),
    limits,
    tooSmall: short.length
      ? short
          .map(
            ([k, need]) => `${k} is ${Number(adapter.limits[k as keyof GPUSupportedLimits])}, the model needs ${need}`,
          )
          .join('; ')
      : undefined,
  };
}

export async function startVolunteer(opts: VolunteerOptions): Promise<Volunteer> {
  // Storage notices (evictions) can only happen after `warn` below exists: writes come later.
  const storage = await openStorage('vgpu', (text) => warn(text));
  const settings = parseSettings(await storage.getProgress(SETTINGS_KEY));
  const receipts = (await storage.getProgress<SignedDocument[]>(RECEIPTS_KEY)) ?? [];
  const gpuDay = (await storage.getProgress<GpuDay>(GPU_DAY_KEY)) ?? { day: today(), busyMs: 0 };
  const state: VolunteerState = {
    phase: 'connecting',
    seedUrl: opts.seedUrl,
    peers: [],
    downloads: [],
    uploads: { uploadedBytes: 0, piecesServed: 0, refused: 0 },
    warnings: [],
    settings,
    training: {
      status: 'off',
      losses: [],
      receipts: [],
      acceptedRounds: 0,
      tokens: 0,
      gpuMs: (await storage.getProgress<number>('gpu-total-ms')) ?? 0,
    },
  };
  let trainer: Comlink.Remote<TrainerApi> | undefined;
  let trainingStarted = false;
  let onBattery: boolean | undefined;

  const v: Volunteer = {
    state,
    storage,
    async setRunning(running) {
      await this.updateSettings({ running });
      if (running) void startTraining();
    },
    async updateSettings(change) {
      state.settings = { ...state.settings, ...change };
      await storage.setProgress(SETTINGS_KEY, state.settings);
      applyPacing();
    },
    async creditsFile() {
      const seed = v.client?.seed;
      return {
        kind: 'vgpu/credits',
        version: 1,
        volunteer: state.peerId ?? '',
        seed: { peerId: seed?.peerId ?? '', publicKey: seed?.publicKey ?? '', url: opts.seedUrl },
        receipts: (await storage.getProgress<SignedDocument[]>(RECEIPTS_KEY)) ?? [],
      };
    },
  };
  const changed = () => {
    if (v.client) {
      state.peers = v.client.peers();
      state.uploads = { ...v.client.uploads };
    }
    opts.onChange(state);
  };
  function warn(text: string): void {
    state.warnings = [...state.warnings, text].slice(-MAX_WARNINGS);
    changed();
  }

  /** The pause rule, applied to the worker between steps. */
  function applyPacing(): void {
    if (gpuDay.day !== today()) Object.assign(gpuDay, { day: today(), busyMs: 0 });
    state.pausedBecause = pauseReason({
      settings: state.settings,
      hidden: document.hidden,
      onBattery,
      usedTodayMs: gpuDay.busyMs,
    });
    void trainer?.setPacing({ dutyCycle: state.settings.dutyCycle, paused: state.pausedBecause !== undefined });
    changed();
  }
  document.addEventListener('visibilitychange', applyPacing);
  const battery = (
    navigator as Navigator & {
      getBattery?: () => Promise<{ charging: boolean; addEventListener(t: string, f: () => void): void }>;
    }
  ).getBattery;
  if (battery) {
    void battery
      .call(navigator)
      .then((b) => {
        const update = () => {
          onBattery = !b.charging;
          applyPacing();
        };
        b.addEventListener('chargingchange', update);
        update();
      })
      .catch(() => {});
  }

  // Contribution history from earlier sessions.
  for (const doc of receipts) {
    try {
      const r = JSON.parse(doc.body) as Receipt;
      state.training.receipts.push({
        round: r.round,
        accepted: r.accepted,
        reason: r.reason,
        tokens: r.tokens,
        bytes: r.bytes,
      });
    } catch {
      // A damaged record: the signed file export still carries it, the summary skips it.
    }
  }
  Object.assign(state.training, pickSummary(state.training.receipts));

  const privateKey = await storage.loadOrCreatePeerKey();
  const store = opts.wrapStore ? opts.wrapStore(storage.pieces) : storage.pieces;
  state.gpu = await describeGpu();

  async function startTraining(): Promise<void> {
    if (trainingStarted || !v.client || !state.settings.running) return;
    const t = state.training;
    if (!state.gpu?.available) {
      t.reason = 'no WebGPU';
      changed();
      return;
    }
    if (state.gpu.tooSmall) {
      t.reason = `this GPU is too small for the model: ${state.gpu.tooSmall}`;
      changed();
      return;
    }
    trainingStarted = true;
    const worker = new Worker(new URL('../../workers/trainer.worker.ts', import.meta.url), { type: 'module' });
    const remote = Comlink.wrap<TrainerApi>(worker);
    trainer = remote;
    applyPacing();
    let lastBusy = 0;
    const participantTrainer = {
      init: remote.init,
      loadParams: remote.loadParams,
      loadData: remote.loadData,
      cancel: remote.cancel,
      train: (request: Parameters<TrainerApi['train']>[0], onProgress?: Parameters<TrainerApi['train']>[1]) => {
        lastBusy = 0;
        return remote.train(request, onProgress && Comlink.proxy(onProgress));
      },
    };
    const onEvent = (e: ParticipantEvent) => {
      if (e.type === 'error') {
        t.status = 'error';
        t.reason = `${e.message} (retrying in ${Math.round(e.retryInMs / 1000)} s)`;
      } else if (e.type === 'receipt') {
        t.receipts = [
          ...t.receipts,
          {
            round: e.receipt.round,
            accepted: e.receipt.accepted,
            reason: e.receipt.reason,
            tokens: e.receipt.tokens,
            bytes: e.receipt.bytes,
          },
        ];
        Object.assign(t, pickSummary(t.receipts));
        t.status = 'waiting';
        t.reason = e.receipt.accepted ? undefined : `round ${e.receipt.round} rejected: ${e.receipt.reason}`;
      } else if (e.type === 'training') {
        Object.assign(t, { status: 'training', round: e.round, step: e.step, steps: e.steps, reason: undefined });
        t.losses = [...t.losses, { round: e.round, step: e.step, loss: e.loss }].slice(-MAX_LOSSES);
        // GPU time for the daily budget and the totals, counted as it is spent.
        const delta = (e.busyMs ?? 0) - lastBusy;
        lastBusy = e.busyMs ?? 0;
        gpuDay.busyMs += delta;
        t.gpuMs += delta;
        void storage.setProgress(GPU_DAY_KEY, gpuDay);
        void storage.setProgress('gpu-total-ms', t.gpuMs);
        applyPacing();
      } else if (e.type === 'trained') {
        state.speed = {
          tokensPerS: e.tokens / (e.busyMs / 1000),
          gflops: (e.flops ?? 0) / (e.busyMs * 1e6),
          dutyMeasured: e.busyMs / (e.busyMs + e.idleMs),
        };
      } else if (e.type === 'sending') {
        Object.assign(t, { status: 'sending', round: e.round, lastUpdateBytes: e.bytes, lastDenseBytes: e.denseBytes });
      } else if (e.type === 'skipped') {
        t.status = 'waiting';
        t.reason = `round ${e.round} skipped: ${e.reason}`;
      } else {
        t.status = e.type === 'joined' ? 'waiting' : e.type;
        if ('round' in e && e.round !== undefined) t.round = e.round;
      }
      changed();
    };
    await runParticipant({
      client: v.client,
      seedUrl: opts.seedUrl,
      trainer: participantTrainer,
      storage,
      onEvent,
      signal: new AbortController().signal,
    });
  }

  void (async () => {
    for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      try {
        const res = await fetch(new URL('/swarm.json', opts.seedUrl));
        if (!res.ok) throw new Error(`${opts.seedUrl}/swarm.json answered ${res.status}`);
        const seed = parseSeedInfo(await res.json());
        v.client = await startSwarmClient({
          seed,
          privateKey,
          store,
          localNetwork: isLocalHost(new URL(opts.seedUrl).hostname),
        });
        v.client.onWarning = warn;
        break;
      } catch (e) {
        state.phase = 'retrying';
        state.error = `seed unreachable: ${(e as Error).message}`;
        state.retryAt = Date.now() + delay;
        changed();
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    const client = v.client;
    state.peerId = client.peerId;
    state.phase = 'downloading';
    state.error = state.retryAt = undefined;
    client.node.addEventListener('connection:open', changed);
    client.node.addEventListener('connection:close', changed);
    setInterval(() => void pollStatus(), STATUS_POLL_MS);
    void pollStatus();
    for (const signed of client.seed.manifests) {
      try {
        const m = await verifyManifest(signed, client.seed.peerId);
        const view: DownloadView = {
          id: m.id,
          name: m.value.name,
          totalBytes: m.value.totalBytes,
          done: false,
          held: 0,
          total: m.value.pieces.length,
          downloadedBytes: 0,
          fromSeedBytes: 0,
          fromPeersBytes: 0,
          corruptPieces: 0,
          bannedPeers: [],
        };
        state.downloads.push(view);
        const d = await client.download(signed, (p) => {
          Object.assign(view, p);
          changed();
        });
        await storage.saveManifest(d.manifest.id, d.manifest.signed);
        Object.assign(view, d.progress, {
          done: true,
          weightsSha256: await sha256Hex(new Uint8Array(d.weights.buffer, d.weights.byteOffset, d.weights.byteLength)),
        });
      } catch (e) {
        warn(`download failed: ${(e as Error).message}`);
      }
      changed();
    }
    state.phase = 'ready';
    changed();
    await startTraining();
  })();

  async function pollStatus(): Promise<void> {
    try {
      const s = (await (await fetch(new URL('/status.json', opts.seedUrl))).json()) as GlobalView;
      state.global = {
        round: s.round,
        volunteers: s.volunteers,
        acceptedUpdates: s.acceptedUpdates,
        history: s.history,
      };
      changed();
    } catch {
      // The seed is restarting: the next poll will do.
    }
  }

  applyPacing();
  return v;
}

function pickSummary(
  receipts: Pick<Receipt, 'accepted' | 'tokens'>[],
): Pick<TrainingView, 'acceptedRounds' | 'tokens'> {
  const s = summarise(receipts);
  return { acceptedRounds: s.acceptedRounds, tokens: s.tokens };
}
