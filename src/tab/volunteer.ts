// The volunteer's tab, composed from its parts: what it kept in IndexedDB, the pacing, the GPU
// probe, the link to the seed, the first downloads, the run's status and grid schedule, the page's
// own responsiveness, and (once the volunteer presses Start) the trainer worker and the participant
// loop. Every part reports events; the tab reduces them into one state (state.ts) that the page renders.
import { type AdapterClass, type CreditsFile, parseReceipt } from '../fed';
import { openStorage, type Storage } from '../storage';
import { MAX_SEED_JSON_BYTES, type PieceStore, type SignedDocument, type SwarmClient } from '../swarm';
import { fetchJsonAtMost } from '../util/read-at-most';
import { readSeedInfo, type SeedClient, stayConnected } from './connect';
import { downloadOfferedWeights } from './downloads';
import { describeGpu } from './gpu-probe';
import { fetchGridSchedule } from './grid-schedule';
import { browserPacingEnvironment, createPacing, type PacingControl } from './pacing';
import { RECEIPTS_KEY, runParticipant } from './participant';
import { monitorResponsiveness } from './responsiveness';
import { GPU_DAY_KEY, type GpuDay, parseSettings, SETTINGS_KEY, type Settings, today } from './settings';
import {
  adapterClassInUse,
  initialState,
  parseGlobalView,
  type ReceiptView,
  receiptView,
  reduce,
  type TabEvent,
  type TabState,
} from './state';
import { startTrainerWorker, type TrainerWorker } from './trainer-client';

/** Progress record of the GPU time spent training, all sessions. */
export const GPU_TOTAL_KEY = 'gpu-total-ms';
/** How often the page reads the run's /status.json. */
const STATUS_POLL_MS = 5_000;

export interface VolunteerOptions {
  seedUrl: string;
  onChange(state: TabState): void;
  /** The piece store to use instead of IndexedDB's (the misbehaving-tab test wraps it). */
  wrapStore?(store: PieceStore): PieceStore;
}

export interface Volunteer {
  readonly state: TabState;
  readonly client: SwarmClient | undefined;
  /** Start contributing (and remember it), or pause. */
  setRunning(running: boolean): Promise<void>;
  updateSettings(change: Partial<Settings>): Promise<void>;
  /** The receipts behind the contribution, as a verifiable file. */
  creditsFile(): Promise<CreditsFile>;
}

const swarmView = (client: SwarmClient): TabEvent => ({
  type: 'swarm',
  peers: client.peers(),
  uploads: { ...client.uploads },
});

/** The receipts kept from earlier sessions; a damaged record is left out of the summary (the export still carries it). */
function receiptViews(kept: SignedDocument[]): ReceiptView[] {
  return kept.flatMap((doc) => {
    try {
      return [receiptView(parseReceipt(JSON.parse(doc.body)))];
    } catch {
      return [];
    }
  });
}

export async function startVolunteer(opts: VolunteerOptions): Promise<Volunteer> {
  // Storage notices (evictions) arrive only after the state exists: writes come later.
  const storage: Storage = await openStorage('vgpu', (text) => emit({ type: 'warning', text }));
  let state = initialState(opts.seedUrl, {
    settings: parseSettings(await storage.getProgress(SETTINGS_KEY)),
    receipts: receiptViews((await storage.getProgress<SignedDocument[]>(RECEIPTS_KEY)) ?? []),
    gpuMs: (await storage.getProgress<number>(GPU_TOTAL_KEY)) ?? 0,
  });
  /** The swarm client of this connection (stayConnected makes a new one after a lost helper), and its signal. */
  let client: SeedClient | undefined;
  let session: AbortSignal | undefined;
  /** The signal of the connection whose participant loop runs, if one does; the trainer worker outlives connections. */
  let participatingIn: AbortSignal | undefined;
  let trainer: TrainerWorker | undefined;
  /** The participant loop running or last run (each connection's waits for the one before). */
  let participation: Promise<void> = Promise.resolve();

  function emit(e: TabEvent): void {
    state = reduce(state, e);
    if (e.type === 'step') {
      pacing.spent(e.gpuMs);
      void storage.setProgress(GPU_TOTAL_KEY, state.training.gpuMs);
    }
    // Upload counters move without events of their own: every change refreshes them.
    if (client) state = reduce(state, swarmView(client));
    responsiveness.setActive(state.training.status === 'training');
    opts.onChange(state);
  }

  const responsiveness = monitorResponsiveness((view) => emit({ type: 'responsiveness', view }));
  const pacing: PacingControl = createPacing({
    store: storage,
    environment: browserPacingEnvironment(),
    settings: state.settings,
    gpuDay: (await storage.getProgress<GpuDay>(GPU_DAY_KEY)) ?? { day: today(), busyMs: 0 },
    onChange: (settings, view) => {
      if (settings !== state.settings) emit({ type: 'settings', settings });
      emit({ type: 'pacing', view });
    },
  });
  emit({ type: 'gpu', gpu: await describeGpu() });
  const privateKey = await storage.loadOrCreatePeerKey();
  const store = opts.wrapStore ? opts.wrapStore(storage.pieces) : storage.pieces;

  /** The adapter class and grid region the update headers give for the receipts' impact figures. */
  function impact(): { adapter: AdapterClass; region?: string } {
    const region = state.settings.gridRegion;
    return { adapter: adapterClassInUse(state), region: state.grid?.regions.includes(region) ? region : undefined };
  }

  /** Starts the trainer worker and the participant loop, once connected and once the volunteer said so. */
  async function startTraining(): Promise<void> {
    if (!client || !session || participatingIn === session || !state.settings.running) return;
    const gpu = state.gpu;
    if (!gpu?.available) return emit({ type: 'cannot-train', reason: 'no WebGPU' });
    if (gpu.tooSmall)
      return emit({ type: 'cannot-train', reason: `this GPU is too small for the model: ${gpu.tooSmall}` });
    participatingIn = session;
    if (!trainer) {
      trainer = startTrainerWorker();
      pacing.attach(trainer);
    }
    const [signal, linked, worker, previous] = [session, client, trainer, participation];
    // One participant loop at a time on the worker: a loop started after its connection's session
    // returned is not awaited by stayConnected, so the next connection's loop waits for it here.
    participation = (async () => {
      await previous.catch(() => {});
      try {
        await runParticipant({
          client: linked,
          seedUrl: linked.seedUrl,
          trainer: worker,
          storage,
          onEvent: emit,
          signal,
          availability: pacing,
          impact,
        });
      } finally {
        if (participatingIn === signal) participatingIn = undefined;
      }
    })();
    await participation;
  }

  /** The run's grid schedule, from its root; a schedule that cannot be read leaves the one known. */
  async function loadGridSchedule(root: string): Promise<void> {
    try {
      const grid = await fetchGridSchedule(root);
      pacing.setGrid(grid);
      emit({ type: 'grid', grid: grid && { source: grid.source, regions: Object.keys(grid.regions).sort() } });
    } catch (e) {
      emit({ type: 'warning', text: `could not read the run's grid schedule: ${(e as Error).message}` });
    }
  }

  /** The run's figures, from its root (a helper's /swarm.json names it as `upstream`). */
  async function pollRunStatus(): Promise<void> {
    try {
      const root = client?.seed.upstream ?? opts.seedUrl;
      const global = parseGlobalView(await fetchJsonAtMost(new URL('/status.json', root), MAX_SEED_JSON_BYTES));
      if (global) emit({ type: 'run-status', global });
    } catch {
      // The seed is restarting: the next poll will do.
    }
  }

  setInterval(() => void pollRunStatus(), STATUS_POLL_MS);
  void pollRunStatus();
  void stayConnected(
    {
      seedUrl: opts.seedUrl,
      privateKey,
      store,
      records: storage,
      onRetry: (error, retryAt) => emit({ type: 'seed-unreachable', error, retryAt }),
      onHelperLost: (text) => emit({ type: 'warning', text }),
      signal: new AbortController().signal,
    },
    async (linked, signal) => {
      client = linked;
      session = signal;
      linked.onWarning = (text) => emit({ type: 'warning', text });
      linked.node.addEventListener('connection:open', () => emit(swarmView(linked)));
      linked.node.addEventListener('connection:close', () => emit(swarmView(linked)));
      emit({ type: 'connected', peerId: linked.peerId, seedPage: linked.seedUrl });
      void loadGridSchedule(linked.seed.upstream ?? opts.seedUrl);
      // Weights and rounds from the page drawn (a helper's or the root's); the run's figures from the root.
      const offered = async () => (await readSeedInfo(linked.seedUrl)).manifests;
      await downloadOfferedWeights({ client: linked, storage, offered, emit, signal });
      if (signal.aborted) return;
      await startTraining();
    },
  );

  return {
    get state() {
      return state;
    },
    get client() {
      return client;
    },
    async setRunning(running) {
      await pacing.update({ running });
      if (running) void startTraining();
    },
    updateSettings: (change) => pacing.update(change),
    async creditsFile() {
      const seed = client?.seed;
      return {
        kind: 'vgpu/credits',
        version: 1,
        volunteer: state.peerId ?? '',
        seed: { peerId: seed?.peerId ?? '', publicKey: seed?.publicKey ?? '', url: opts.seedUrl },
        receipts: (await storage.getProgress<SignedDocument[]>(RECEIPTS_KEY)) ?? [],
      };
    },
  };
}
