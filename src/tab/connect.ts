// Finding the seed: read its /swarm.json (who it is, where to dial it), then join the swarm through
// it, retrying with backoff until it answers. Loopback and private seeds are dialled as a local run.
import type { PrivateKey } from '@libp2p/interface';
import { type PieceStore, parseSeedInfo, type SeedInfo, type SwarmClient, startSwarmClient } from '../swarm';
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
  signal?: AbortSignal;
}

/** The seed's /swarm.json: who it is, where to dial it, the weights it serves now. */
export async function readSeedInfo(seedUrl: string, signal?: AbortSignal): Promise<SeedInfo> {
  const res = await fetch(new URL('/swarm.json', seedUrl), { signal });
  if (!res.ok) throw new Error(`${seedUrl}/swarm.json answered ${res.status}`);
  return parseSeedInfo(await res.json());
}

/** Resolves with a swarm client once the seed answers; retries until then (or until `signal` aborts). */
export async function connectToSeed(opts: SeedLinkOptions): Promise<SwarmClient> {
  const retry = backoff(RETRY_FIRST_MS, RETRY_MAX_MS);
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const seed = await readSeedInfo(opts.seedUrl, opts.signal);
      const localNetwork = isLocalHost(new URL(opts.seedUrl).hostname);
      return await startSwarmClient({ seed, privateKey: opts.privateKey, store: opts.store, localNetwork });
    } catch (e) {
      const delay = retry.next();
      opts.onRetry((e as Error).message, Date.now() + delay);
      await sleep(systemClock, delay, opts.signal).done;
    }
  }
}
