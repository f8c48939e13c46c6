// The tab's side of the swarm, as the page runs it: find the seed, restore identity and cached
// pieces from IndexedDB, join, download every manifest the seed offers, keep serving pieces.
import * as Comlink from 'comlink';
import { openStorage, type Storage } from '../storage';
import { runParticipant, type ParticipantEvent, type Receipt } from '../fed';
import type { TrainerApi } from '../../workers/trainer.worker';
import { parseSeedInfo, sha256Hex, startSwarmClient, verifyManifest, type FetchProgress, type PeerView, type PieceStore, type SwarmClient, type UploadStats } from '../swarm';

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
  /** Why training is off (no WebGPU), or the last error. */
  reason?: string;
  round?: number;
  step?: number;
  steps?: number;
  /** Local training losses, newest last (at most MAX_LOSSES). */
  losses: { round: number; step: number; loss: number }[];
  receipts: Pick<Receipt, 'round' | 'accepted' | 'reason' | 'tokens' | 'bytes'>[];
  acceptedRounds: number;
  tokens: number;
  trainMs: number;
  /** Bytes of the last update sent, and what the dense fp32 vector would have been. */
  lastUpdateBytes?: number;
  lastDenseBytes?: number;
}

export interface VolunteerState {
  phase: 'connecting' | 'retrying' | 'downloading' | 'ready';
  training: TrainingView;
  seedUrl: string;
  peerId?: string;
  peers: PeerView[];
  downloads: DownloadView[];
  uploads: UploadStats;
  /** Newest last; at most MAX_WARNINGS. */
  warnings: string[];
  /** Why the last attempt failed, while retrying. */
  error?: string;
  retryAt?: number;
}

const MAX_WARNINGS = 50;
const MAX_LOSSES = 500;
/** Backoff between attempts to reach the seed: doubles from the first to the last. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/** The seed named by `?seed=` (its base URL), else the origin that served this page. */
export function seedUrlFromLocation(location: Location): string {
  return new URL(location.search ? new URLSearchParams(location.search).get('seed') ?? location.origin : location.origin).origin;
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
}

export async function startVolunteer(opts: VolunteerOptions): Promise<Volunteer> {
  const storage = await openStorage();
  const state: VolunteerState = {
    phase: 'connecting', seedUrl: opts.seedUrl,
    training: { status: 'off', losses: [], receipts: [], acceptedRounds: 0, tokens: 0, trainMs: 0 }, peers: [], downloads: [], uploads: { uploadedBytes: 0, piecesServed: 0, refused: 0 }, warnings: [] };
  const v: Volunteer = { state, storage };
  const changed = () => {
    if (v.client) {
      state.peers = v.client.peers();
      state.uploads = { ...v.client.uploads };
    }
    opts.onChange(state);
  };
  const warn = (text: string) => {
    state.warnings = [...state.warnings, text].slice(-MAX_WARNINGS);
    changed();
  };
  const privateKey = await storage.loadOrCreatePeerKey();
  const store = opts.wrapStore ? opts.wrapStore(storage.pieces) : storage.pieces;

  void (async () => {
    for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      try {
        const res = await fetch(new URL('/swarm.json', opts.seedUrl));
        if (!res.ok) throw new Error(`${opts.seedUrl}/swarm.json answered ${res.status}`);
        const seed = parseSeedInfo(await res.json());
        const local = isLocalHost(new URL(opts.seedUrl).hostname);
        v.client = await startSwarmClient({ seed, privateKey, store, localNetwork: local });
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
    for (const signed of client.seed.manifests) {
      try {
        const m = await verifyManifest(signed, client.seed.peerId);
        const view: DownloadView = {
          id: m.id, name: m.value.name, totalBytes: m.value.totalBytes, done: false,
          held: 0, total: m.value.pieces.length, downloadedBytes: 0, fromSeedBytes: 0, fromPeersBytes: 0, corruptPieces: 0, bannedPeers: [],
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
    await train(v, opts.seedUrl, changed);
  })();
  return v;
}

/** Joins the federated run when this browser has WebGPU; the trainer worker does the GPU work. */
async function train(v: Volunteer, seedUrl: string, changed: () => void): Promise<void> {
  const t = v.state.training;
  const adapter = 'gpu' in navigator ? await navigator.gpu.requestAdapter().catch(() => null) : null;
  if (!adapter) {
    t.reason = 'this browser has no WebGPU adapter, so this tab only shares weights';
    changed();
    return;
  }
  const worker = new Worker(new URL('../../workers/trainer.worker.ts', import.meta.url), { type: 'module' });
  const remote = Comlink.wrap<TrainerApi>(worker);
  const trainer = {
    init: remote.init, loadParams: remote.loadParams, loadData: remote.loadData, cancel: remote.cancel,
    train: (request: Parameters<TrainerApi['train']>[0], onProgress?: Parameters<TrainerApi['train']>[1]) =>
      remote.train(request, onProgress && Comlink.proxy(onProgress)),
  };
  const t0 = { tokens: t.tokens };
  const onEvent = (e: ParticipantEvent) => {
    if (e.type === 'error') {
      t.status = 'error';
      t.reason = `${e.message} (retrying in ${Math.round(e.retryInMs / 1000)} s)`;
    } else if (e.type === 'receipt') {
      t.receipts = [...t.receipts, { round: e.receipt.round, accepted: e.receipt.accepted, reason: e.receipt.reason, tokens: e.receipt.tokens, bytes: e.receipt.bytes }];
      if (e.receipt.accepted) t.acceptedRounds++;
      t.tokens = t0.tokens + t.receipts.reduce((n, r) => n + r.tokens, 0);
      t.trainMs += e.trainMs;
      t.status = 'waiting';
    } else if (e.type === 'training') {
      Object.assign(t, { status: 'training', round: e.round, step: e.step, steps: e.steps });
      t.losses = [...t.losses, { round: e.round, step: e.step, loss: e.loss }].slice(-MAX_LOSSES);
    } else if (e.type === 'sending') {
      Object.assign(t, { status: 'sending', round: e.round, lastUpdateBytes: e.bytes, lastDenseBytes: e.denseBytes });
    } else if (e.type === 'skipped') {
      t.status = 'waiting';
      t.reason = `round ${e.round} skipped: ${e.reason}`;
    } else {
      t.status = e.type === 'joined' ? 'waiting' : e.type;
      if ('round' in e) t.round = e.round;
    }
    changed();
  };
  await runParticipant({ client: v.client!, seedUrl, trainer, storage: v.storage, onEvent, signal: new AbortController().signal });
}
