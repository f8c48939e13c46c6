// Finding the seed: read its /swarm.json (who it is, where to dial it), then join the swarm through
// it, retrying with backoff until it answers. Loopback and private seeds are dialled as a local run.
// A root that lists helper seeds spreads its volunteers over itself and them: each attempt draws one.
import type { PrivateKey } from '@libp2p/interface';
import {
  type PieceStore,
  parseSeedInfo,
  runSigner,
  type SeedInfo,
  type SwarmClient,
  type SwarmRecords,
  startSwarmClient,
} from '../swarm';
import { backoff } from '../util/backoff';
import { sleep, systemClock } from '../util/clock';

/** Backoff between attempts to reach the seed. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/** The seed named by `?seed=` (its base URL), else the origin that served this page. */
export function seedUrlFromLocation(location: Location): string {
  const named = location.search ? new URLSearchParams(location.search).get('seed') : null;
  return new URL(named ?? location.origin).origin;
}

/** Loopback and private addresses: browsers' libp2p refuses them unless told this is a local run. */
export function isLocalHost(hostname: string): boolean {
  return /^(localhost|127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|\[?::1\]?$)/.test(hostname);
}

export interface SeedLinkOptions {
  seedUrl: string;
  privateKey: PrivateKey;
  store: PieceStore;
  /** An attempt failed; the next one is at `retryAt` (ms since the epoch). */
  onRetry(error: string, retryAt: number): void;
  /** Where the swarm client keeps its peer connection budget across reloads (the tab's storage). */
  records?: SwarmRecords;
  signal?: AbortSignal;
}

/** The STUN/TURN servers of /swarm.json (none when it names none), checked for RTCIceServer's shape. */
export function parseIceServers(value: unknown): RTCIceServer[] {
  if (value === undefined) return [];
  const isServer = (s: unknown) => {
    const { urls, username, credential } = (s ?? {}) as Record<string, unknown>;
    const list = Array.isArray(urls) ? urls : [urls];
    return (
      list.length > 0 &&
      list.every((u) => typeof u === 'string') &&
      (username === undefined || typeof username === 'string') &&
      (credential === undefined || typeof credential === 'string')
    );
  };
  if (!Array.isArray(value) || !value.every(isServer))
    throw new Error('swarm.json: iceServers must be a list of {urls, username?, credential?}');
  return value as RTCIceServer[];
}

/** The seed's /swarm.json: who it is, where to dial it, the weights it serves now, the ICE servers to use. */
export async function readSeedInfo(
  seedUrl: string,
  signal?: AbortSignal,
): Promise<SeedInfo & { iceServers: RTCIceServer[] }> {
  const res = await fetch(new URL('/swarm.json', seedUrl), { signal });
  if (!res.ok) throw new Error(`${seedUrl}/swarm.json answered ${res.status}`);
  const json: unknown = await res.json();
  return { ...parseSeedInfo(json), iceServers: parseIceServers((json as { iceServers?: unknown }).iceServers) };
}

/** The page a volunteer of the seed at `seedUrl` goes to: it, or one of the helpers it lists, uniformly. */
export function pickSeedPage(seedUrl: string, info: SeedInfo, random: () => number = Math.random): string {
  const pages = [seedUrl, ...(info.helpers ?? []).map((h) => h.url)];
  return pages[Math.floor(random() * pages.length)]!;
}

/**
 * Resolves with a swarm client once the seed answers (with the page it was drawn to: pickSeedPage);
 * retries until then (or until `signal` aborts).
 */
export async function connectToSeed(opts: SeedLinkOptions): Promise<SwarmClient & { seedUrl: string }> {
  const retry = backoff(RETRY_FIRST_MS, RETRY_MAX_MS);
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const root = await readSeedInfo(opts.seedUrl, opts.signal);
      const seedUrl = pickSeedPage(opts.seedUrl, root);
      const seed = seedUrl === opts.seedUrl ? root : await readSeedInfo(seedUrl, opts.signal);
      if (runSigner(seed) !== runSigner(root)) throw new Error(`${seedUrl} is not a helper of this run`);
      const localNetwork = isLocalHost(new URL(seedUrl).hostname);
      const { iceServers } = seed;
      const client = await startSwarmClient({
        seed,
        privateKey: opts.privateKey,
        store: opts.store,
        localNetwork,
        iceServers,
        records: opts.records,
      });
      return Object.assign(client, { seedUrl });
    } catch (e) {
      const delay = retry.next();
      opts.onRetry((e as Error).message, Date.now() + delay);
      await sleep(systemClock, delay, opts.signal).done;
    }
  }
}
