// The volunteer's side of federated training, run by the page: join the run, wait for a round
// that assigns us a shard, fetch its weights (peer-assisted) and the data, train H local steps in
// the worker, compress the pseudo-gradient (int8 with error feedback), send it to the seed, keep
// the signed receipt. It keeps going when the seed restarts (it dials again and re-joins) or
// peers leave, and it skips a round whose deadline passed while it was training.

import { fromU16Bytes } from '../data';
import type { GptConfig } from '../model';
import { fromUtf8, type PieceStore, type SignedDocument, type SwarmClient, sha256Hex } from '../swarm';
import { compressWithFeedback } from './codec';
import { type Receipt, type RoundManifest, verifyReceipt, verifyRoundManifest } from './documents';
import { ROUND_TOPIC, requestJoin, sendUpdate, UPDATE_PROTOCOL } from './protocol';

/** What the participant needs of the trainer worker (its comlink proxy fits). */
export interface ParticipantTrainer {
  init(init: { config: GptConfig; batchSize: number; context: number }): Promise<unknown>;
  loadParams(flat: Float32Array): Promise<void>;
  loadData(train: Uint32Array, validation: Uint32Array): Promise<void> | void;
  train(
    request: {
      steps: number;
      hyper: { lr: number; weightDecay: number };
      seed: number;
      shard: number;
      shardCount: number;
      firstStep: number;
    },
    onProgress?: (p: { step: number; steps: number; loss: number; busyMs?: number }) => void,
  ): Promise<{
    pseudoGradient: Float32Array;
    losses: number[];
    tokens: number;
    ms: number;
    busyMs?: number;
    idleMs?: number;
    flops?: number;
    cancelled: boolean;
  }>;
  cancel(): Promise<void> | void;
}

/** Where the participant keeps what must survive a reload. */
export interface ParticipantStorage {
  pieces: PieceStore;
  getProgress<T>(name: string): Promise<T | undefined>;
  setProgress(name: string, value: unknown): Promise<void>;
}

export type ParticipantEvent =
  | { type: 'joining' }
  | { type: 'joined'; round: number }
  | { type: 'waiting'; round?: number }
  | { type: 'fetching'; round: number }
  | { type: 'training'; round: number; step: number; steps: number; loss: number; busyMs?: number }
  | { type: 'trained'; round: number; tokens: number; busyMs: number; idleMs: number; flops?: number }
  | { type: 'sending'; round: number; bytes: number; denseBytes: number }
  | { type: 'receipt'; receipt: Receipt; signed: SignedDocument; trainMs: number; tokens: number }
  | { type: 'skipped'; round: number; reason: string }
  | { type: 'error'; message: string; retryInMs: number };

export interface ParticipantOptions {
  client: SwarmClient;
  /** The seed's HTTP base URL: /round.json and /data/…. */
  seedUrl: string;
  trainer: ParticipantTrainer;
  storage: ParticipantStorage;
  onEvent(e: ParticipantEvent): void;
  signal: AbortSignal;
}

/** How often the page asks /round.json for the open round (gossip usually tells it sooner). */
const ROUND_POLL_MS = 2_000;
/** Backoff after a failed iteration: doubles up to the last. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;
/** Progress records. */
const RESIDUAL_KEY = 'fed:residual';
export const RECEIPTS_KEY = 'fed:receipts';

export async function runParticipant(opts: ParticipantOptions): Promise<void> {
  const { client, trainer, storage, signal } = opts;
  const self = client.peerId;
  let latest: { id: string; value: RoundManifest; signed: SignedDocument } | undefined;
  let wake: (() => void) | undefined;
  const offer = async (doc: unknown) => {
    try {
      const m = await verifyRoundManifest(doc, client.seed.peerId);
      if (
        !latest ||
        m.value.round > latest.value.round ||
        (m.value.round === latest.value.round && m.id !== latest.id && m.value.deadline > latest.value.deadline)
      ) {
        latest = m;
        wake?.();
      }
    } catch {
      // A stale or forged document: the seed's next one will do.
    }
  };
  client.subscribeToSeed(ROUND_TOPIC, (data) => void offer(JSON.parse(fromUtf8(data))));
  const poll = setInterval(
    () =>
      void fetchJson(opts.seedUrl, '/round.json')
        .then(offer)
        .catch(() => {}),
    ROUND_POLL_MS,
  );
  signal.addEventListener('abort', () => {
    clearInterval(poll);
    wake?.();
  });
  await offer(await fetchJson(opts.seedUrl, '/round.json').catch(() => null));

  /** Resolves when a round newer than `than` (or a reissue of it) is known, or on abort. */
  const nextRound = async (than: string | undefined) => {
    while (!signal.aborted && (!latest || latest.id === than)) await new Promise<void>((r) => (wake = r));
    return latest;
  };

  let joinedFor = -1; // the seed said we are assigned from this round on
  // The last round manifest we looked at. A round is identified by its manifest, not its number:
  // a seed restarted from a checkpoint issues a round again, and that one must be trained again.
  let seen: string | undefined;
  let shape = '';
  let dataId = '';
  let delay = RETRY_FIRST_MS;
  while (!signal.aborted) {
    try {
      if (joinedFor < 0) {
        opts.onEvent({ type: 'joining' });
        joinedFor = await requestJoin(await client.seedStream(UPDATE_PROTOCOL, signal), { signal });
        opts.onEvent({ type: 'joined', round: joinedFor });
      }
      const round = await nextRound(seen);
      if (!round || signal.aborted) break;
      seen = round.id;
      const m = round.value;
      const shard = m.assignments[self];
      if (shard === undefined) {
        // Not in this round. If the seed restarted it forgot us: join again.
        if (m.round >= joinedFor) joinedFor = -1;
        opts.onEvent({ type: 'waiting', round: m.round });
        continue;
      }
      opts.onEvent({ type: 'fetching', round: m.round });
      const { weights, manifest } = await client.download(m.weights, undefined, signal);
      const h = m.hyper;
      const nextShape = JSON.stringify([manifest.value.model, h.batchSize, h.context]);
      if (nextShape !== shape) {
        await trainer.init({ config: manifest.value.model, batchSize: h.batchSize, context: h.context });
        shape = nextShape;
        dataId = '';
      }
      if (dataId !== m.data.train + m.data.validation) {
        const [train, validation] = await Promise.all([
          tokenFile(opts.seedUrl, '/data/train.u16', m.data.train, storage.pieces),
          tokenFile(opts.seedUrl, '/data/validation.u16', m.data.validation, storage.pieces),
        ]);
        await trainer.loadData(train, validation);
        dataId = m.data.train + m.data.validation;
      }
      await trainer.loadParams(weights);
      // Give up on the round if a newer one appears while we train (we missed its deadline).
      const superseded = setInterval(() => latest && latest.value.round > m.round && void trainer.cancel(), 500);
      let result: Awaited<ReturnType<ParticipantTrainer['train']>>;
      try {
        result = await trainer.train(
          {
            steps: h.steps,
            hyper: { lr: h.lr, weightDecay: h.weightDecay },
            seed: h.dataSeed,
            shard,
            shardCount: m.shardCount,
            firstStep: m.round * h.steps,
          },
          (p) => opts.onEvent({ type: 'training', round: m.round, ...p }),
        );
      } finally {
        clearInterval(superseded);
      }
      opts.onEvent({
        type: 'trained',
        round: m.round,
        tokens: result.tokens,
        busyMs: result.busyMs ?? result.ms,
        idleMs: result.idleMs ?? 0,
        flops: result.flops,
      });
      if (result.cancelled || Date.now() > m.deadline) {
        opts.onEvent({
          type: 'skipped',
          round: m.round,
          reason: result.cancelled ? 'a newer round started' : 'the deadline passed while training',
        });
        continue;
      }
      const stored = await storage.getProgress<Float32Array>(RESIDUAL_KEY);
      const residual = stored && stored.length === result.pseudoGradient.length ? stored : undefined;
      const compressed = compressWithFeedback(result.pseudoGradient, residual, m.codec);
      opts.onEvent({
        type: 'sending',
        round: m.round,
        bytes: compressed.bytes.length,
        denseBytes: 4 * result.pseudoGradient.length,
      });
      const signed = await sendUpdate(
        await client.seedStream(UPDATE_PROTOCOL, signal),
        {
          type: 'update',
          round: m.round,
          weights: manifest.id,
          tokens: result.tokens,
          steps: result.losses.length,
          lossFirst: result.losses[0] ?? NaN,
          lossLast: result.losses.at(-1) ?? NaN,
        },
        compressed.bytes,
        { signal },
      );
      const receipt = await verifyReceipt(signed, client.seed.peerId);
      if (receipt.value.peer !== self || receipt.value.round !== m.round)
        throw new Error("the seed's receipt names another peer or round");
      // Error feedback carries over only what the seed took in.
      if (receipt.value.accepted) await storage.setProgress(RESIDUAL_KEY, compressed.residual);
      const receipts = (await storage.getProgress<SignedDocument[]>(RECEIPTS_KEY)) ?? [];
      await storage.setProgress(RECEIPTS_KEY, [...receipts, signed]);
      opts.onEvent({ type: 'receipt', receipt: receipt.value, signed, trainMs: result.ms, tokens: result.tokens });
      delay = RETRY_FIRST_MS;
    } catch (e) {
      if (signal.aborted) break;
      opts.onEvent({ type: 'error', message: (e as Error).message, retryInMs: delay });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, RETRY_MAX_MS);
      joinedFor = -1;
      seen = undefined;
    }
  }
}

async function fetchJson(base: string, path: string): Promise<unknown> {
  const res = await fetch(new URL(path, base));
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

/** A token file, from the store when it has it, else from the seed; checked against its sha256. */
async function tokenFile(base: string, path: string, sha256: string, store: PieceStore): Promise<Uint32Array> {
  let bytes = await store.get(sha256);
  if (!bytes) {
    const res = await fetch(new URL(path, base));
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    bytes = new Uint8Array(await res.arrayBuffer());
    if ((await sha256Hex(bytes)) !== sha256) throw new Error(`${path} does not match the round manifest's sha256`);
    await store.put(sha256, bytes);
  }
  return fromU16Bytes(bytes);
}
