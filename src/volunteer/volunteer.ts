// A volunteer as a Node process: the tab's participant loop (src/tab/participant.ts) on the tab's
// swarm client (src/swarm/client.ts: the tab's libp2p node, WebSockets to the seed and WebRTC to
// other volunteers through node-datachannel, signalled through the seed's relay), training on the
// CPU reference model unless given another trainer, keeping everything in memory. No GPU, no
// browser. `npm run volunteer -- --seed <URL>` runs one; the soak benchmark runs several.
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { AdapterClass } from '../fed';
import type { FetchProgress, SwarmClient } from '../swarm';
import { stayConnected } from '../tab/connect';
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
  /**
   * The class of what computes, which update headers give for the receipts' energy estimate
   * (fed/impact.ts); default 'software': the CPU reference computes on the CPU.
   */
  adapterClass?: AdapterClass;
  onEvent(e: VolunteerEvent): void;
  /** Stops the volunteer: runNodeVolunteer then resolves once its node has stopped. */
  signal: AbortSignal;
}

/** Joins the seed's run and contributes until `signal` aborts, with a fresh identity. */
export async function runNodeVolunteer(opts: NodeVolunteerOptions): Promise<void> {
  const { signal, onEvent } = opts;
  const privateKey = await generateKeyPair('Ed25519');
  const storage = memoryVolunteerStorage();
  const trainer = opts.trainer ?? createCpuTrainer();
  await stayConnected(
    {
      seedUrl: opts.seedUrl,
      privateKey,
      store: storage.pieces,
      onRetry: (error, retryAt) => onEvent({ type: 'seed-unreachable', error, retryAt }),
      onSeedLink: (up) => onEvent({ type: 'seed-link', up }),
      onHelperLost: (text) => onEvent({ type: 'warning', text }),
      signal,
    },
    async (client, session) => {
      client.onWarning = (text) => onEvent({ type: 'warning', text });
      onEvent({ type: 'connected', peerId: client.peerId });
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
        trainer,
        storage,
        onEvent,
        signal: session,
        impact: () => ({ adapter: opts.adapterClass ?? 'software' }),
      });
    },
  );
}
