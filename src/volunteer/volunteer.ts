// A volunteer as a Node process: the tab's participant loop (src/tab/participant.ts) on the tab's
// swarm client (src/swarm/client.ts: the tab's libp2p node, WebSockets to the seed and WebRTC to
// other volunteers through node-datachannel, signalled through the seed's relay), training on the
// CPU reference model unless given another trainer, keeping everything in memory. No GPU, no
// browser. `npm run volunteer -- --seed <URL>` runs one; the soak benchmark runs several.
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Connection, PrivateKey } from '@libp2p/interface';
import type { FetchProgress, SwarmClient } from '../swarm';
import { connectToSeed } from '../tab/connect';
import { type ParticipantEvent, runParticipant } from '../tab/participant';
import type { Trainer } from '../trainer/trainer';
import { createCpuTrainer } from './cpu-trainer';
import { memoryVolunteerStorage } from './storage';

export type VolunteerEvent =
  | ParticipantEvent
  /** An attempt to reach the seed failed; the next is at `retryAt` (ms since the epoch). */
  | { type: 'seed-unreachable'; error: string; retryAt: number }
  | { type: 'connected'; peerId: string }
  /** The connection to the seed closed (the client dials it again when next needed), or opened again. */
  | { type: 'seed-link'; up: boolean }
  /**
   * Download number `download` (1, 2, … in this volunteer) of a round's weights started (its first
   * report: `held` pieces were in the store already), or a piece of it arrived (each later report).
   */
  | { type: 'fetch-progress'; download: number; progress: FetchProgress }
  /** A peer was penalised or a request refused (the tab shows these as warnings). */
  | { type: 'warning'; text: string };

export interface NodeVolunteerOptions {
  /** The seed's HTTP base URL (the page URL its CLI prints). */
  seedUrl: string;
  /** Default: the CPU reference model (createCpuTrainer). */
  trainer?: Trainer;
  onEvent(e: VolunteerEvent): void;
  /** Stops the volunteer: runNodeVolunteer then resolves once its node has stopped. */
  signal: AbortSignal;
}

/**
 * How long the link to a helper seed may stay down before the volunteer goes back to the root's page
 * and draws again (the root lists only connected helpers): a helper that disappeared loses its
 * volunteers to the others and the root. The root itself is only ever dialled again.
 */
export const HELPER_FAILOVER_MS = 20_000;

/** Joins the seed's run and contributes until `signal` aborts, with a fresh identity. */
export async function runNodeVolunteer(opts: NodeVolunteerOptions): Promise<void> {
  const { signal } = opts;
  const privateKey = await generateKeyPair('Ed25519');
  const storage = memoryVolunteerStorage();
  const trainer = opts.trainer ?? createCpuTrainer();
  let seedUrl = opts.seedUrl;
  while (!signal.aborted) {
    const helperLost = new AbortController();
    const own = { privateKey, storage, trainer };
    seedUrl = await runOnce(opts, seedUrl, own, AbortSignal.any([signal, helperLost.signal]), helperLost);
  }
}

/**
 * One attempt: connects to `seedUrl` (or a helper it lists), contributes until `signal` aborts or
 * `helperLost` is; returns the page to try next (a lost helper's root).
 */
async function runOnce(
  opts: NodeVolunteerOptions,
  seedUrl: string,
  own: { privateKey: PrivateKey; storage: ReturnType<typeof memoryVolunteerStorage>; trainer: Trainer },
  signal: AbortSignal,
  helperLost: AbortController,
): Promise<string> {
  const { onEvent } = opts;
  const { storage } = own;
  let client: SwarmClient & { seedUrl: string };
  try {
    client = await connectToSeed({
      seedUrl,
      privateKey: own.privateKey,
      store: storage.pieces,
      onRetry: (error, retryAt) => onEvent({ type: 'seed-unreachable', error, retryAt }),
      signal,
    });
  } catch (e) {
    if (signal.aborted) return seedUrl;
    throw e;
  }
  let failover: ReturnType<typeof setTimeout> | undefined;
  let nextUrl = seedUrl;
  try {
    client.onWarning = (text) => onEvent({ type: 'warning', text });
    onEvent({ type: 'connected', peerId: client.peerId });
    // A helper's page names its root's: where to draw again when the helper is gone.
    const root = client.seed.run === undefined ? undefined : (client.seed.upstream ?? seedUrl);
    const seedLink = (up: boolean) => (e: CustomEvent<Connection>) => {
      if (e.detail.remotePeer.toString() !== client.seed.peerId) return;
      onEvent({ type: 'seed-link', up });
      clearTimeout(failover);
      if (!up && root)
        failover = setTimeout(() => {
          if (client.node.getConnections(e.detail.remotePeer).length > 0) return;
          onEvent({ type: 'warning', text: `the helper at ${client.seedUrl} is gone: drawing again from ${root}` });
          nextUrl = root;
          helperLost.abort();
        }, HELPER_FAILOVER_MS);
    };
    client.node.addEventListener('connection:open', seedLink(true));
    client.node.addEventListener('connection:close', seedLink(false));
    // The participant asks for no progress of its downloads; the volunteer reports each piece.
    let downloads = 0;
    const reporting: SwarmClient = {
      ...client,
      download: (doc, onProgress, s) => {
        const download = ++downloads;
        return client.download(
          doc,
          (progress) => {
            onEvent({ type: 'fetch-progress', download, progress });
            onProgress?.(progress);
          },
          s,
        );
      },
    };
    await runParticipant({
      client: reporting,
      seedUrl: client.seedUrl,
      trainer: own.trainer,
      storage,
      onEvent,
      signal,
    });
  } finally {
    clearTimeout(failover);
    await client.stop();
  }
  return nextUrl;
}
