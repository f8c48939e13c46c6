// Finding the seed: read its /swarm.json (who it is, where to dial it), then join the swarm through
// it, retrying with backoff until it answers. Loopback and private seeds are dialled as a local run.
// A root that lists helper seeds spreads its volunteers over itself and them: each attempt draws one,
// and a volunteer whose helper is gone draws again from the root (stayConnected).
import type { Connection, PrivateKey } from '@libp2p/interface';
import {
  MAX_SEED_JSON_BYTES,
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
import { fetchJsonAtMost } from '../util/read-at-most';

/**
 * How long the link to a helper seed may stay down before the volunteer goes back to the root's page
 * and draws again (the root lists only connected helpers): a helper that disappeared loses its
 * volunteers to the others and the root. The root itself is only ever dialled again.
 */
export const HELPER_FAILOVER_MS = 20_000;

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
  const json = await fetchJsonAtMost(new URL('/swarm.json', seedUrl), MAX_SEED_JSON_BYTES, { signal });
  return { ...parseSeedInfo(json), iceServers: parseIceServers((json as { iceServers?: unknown }).iceServers) };
}

/** The page a volunteer of the seed at `seedUrl` goes to: it, or one of the helpers it lists, uniformly. */
export function pickSeedPage(seedUrl: string, info: SeedInfo, random: () => number = Math.random): string {
  // As origins: a page is named the same way wherever it was learned (the address bar, /swarm.json).
  const pages = [seedUrl, ...(info.helpers ?? []).map((h) => h.url)].map((u) => new URL(u).origin);
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
      const seed = seedUrl === new URL(opts.seedUrl).origin ? root : await readSeedInfo(seedUrl, opts.signal);
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

/** A connected swarm client, with the page it was drawn to. */
export type SeedClient = SwarmClient & { seedUrl: string };

export interface StayConnectedOptions extends SeedLinkOptions {
  signal: AbortSignal;
  /** The link to the page drawn went down or came up again. */
  onSeedLink?(up: boolean): void;
  /** The helper drawn is gone; the volunteer draws again from its root's page. */
  onHelperLost(text: string): void;
}

/**
 * Connects (connectToSeed) and runs `session` with the client until `opts.signal` aborts. When the
 * page drawn is a helper whose link stays down HELPER_FAILOVER_MS, the session's `signal` aborts, its
 * client stops once the session has returned, and the volunteer connects again from the root's page
 * (the helper's `upstream`). A session may return early: its client stays until its signal aborts.
 */
export async function stayConnected(
  opts: StayConnectedOptions,
  session: (client: SeedClient, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  let seedUrl = opts.seedUrl;
  while (!opts.signal.aborted) {
    const helperLost = new AbortController();
    const signal = AbortSignal.any([opts.signal, helperLost.signal]);
    let client: SeedClient;
    try {
      client = await connectToSeed({ ...opts, seedUrl, signal });
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
    // A helper's page names its root's: where to draw again when the helper is gone.
    const root = client.seed.run === undefined ? undefined : new URL(client.seed.upstream ?? seedUrl).origin;
    let failover: ReturnType<typeof setTimeout> | undefined;
    const seedLink = (up: boolean) => (e: CustomEvent<Connection>) => {
      if (e.detail.remotePeer.toString() !== client.seed.peerId) return;
      opts.onSeedLink?.(up);
      clearTimeout(failover);
      if (!up && root)
        failover = setTimeout(() => {
          if (client.node.getConnections(e.detail.remotePeer).length > 0) return;
          opts.onHelperLost(`the helper at ${client.seedUrl} is gone: drawing again from ${root}`);
          helperLost.abort();
        }, HELPER_FAILOVER_MS);
    };
    const opened = seedLink(true);
    const closed = seedLink(false);
    client.node.addEventListener('connection:open', opened);
    client.node.addEventListener('connection:close', closed);
    try {
      await session(client, signal);
      if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    } finally {
      clearTimeout(failover);
      client.node.removeEventListener('connection:open', opened);
      client.node.removeEventListener('connection:close', closed);
      await client.stop();
    }
    if (helperLost.signal.aborted && root) seedUrl = root;
  }
}
