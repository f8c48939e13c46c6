// The tab's side of the swarm, as the page runs it: find the seed, restore identity and cached
// pieces from IndexedDB, join, download every manifest the seed offers, keep serving pieces.
import { openStorage, type Storage } from '../storage';
import { parseSeedInfo, sha256Hex, startSwarmClient, verifyManifest, type FetchProgress, type PeerView, type PieceStore, type SwarmClient, type UploadStats } from '../swarm';

export interface DownloadView extends FetchProgress {
  id: string;
  name: string;
  totalBytes: number;
  done: boolean;
  /** sha256 of the assembled vector, computed from the bytes the tab holds. */
  weightsSha256?: string;
}

export interface VolunteerState {
  phase: 'connecting' | 'retrying' | 'downloading' | 'ready';
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
  const state: VolunteerState = { phase: 'connecting', seedUrl: opts.seedUrl, peers: [], downloads: [], uploads: { uploadedBytes: 0, piecesServed: 0, refused: 0 }, warnings: [] };
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
  })();
  return v;
}
