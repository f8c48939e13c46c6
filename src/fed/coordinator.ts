// The seed's side of federated training (DiLoCo): a run is a sequence of rounds. Each round the
// coordinator publishes a signed round manifest (weights, data, hyperparameters, each volunteer's
// shard, a deadline); volunteers run H local AdamW steps and send their pseudo-gradient; the round
// closes when every assigned volunteer has reported or at the deadline, whichever comes first; the
// accepted updates are aggregated robustly and applied with an outer Nesterov step; the global
// model is evaluated, the state checkpointed, and the next round published.
//
// Rules: a volunteer that joins during round r is assigned from round r+1. An update for a round
// that is closed (or closing) is rejected as late: it was computed from old weights. A round that
// closes with no accepted update is issued again with a fresh roster and deadline.
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { type SignedDocument, sha256Hex, type VerifiedManifest } from '../swarm';
import { type Clock, systemClock } from '../util/clock';
import { type AggregationRule, aggregate } from './aggregate';
import { decodeUpdate, encodedSize } from './codec';
import {
  type CodecSettings,
  type Receipt,
  type RoundHyper,
  type RoundManifest,
  signReceipt,
  signRoundManifest,
} from './documents';
import { type OuterOptions, outerStep } from './outer';
import type { UpdateHeader } from './protocol';
import { validateUpdate } from './validate';

export interface FedSettings {
  hyper: RoundHyper;
  /** The training split is cut into this many shards; at most this many volunteers per round. */
  shardCount: number;
  /** Time from publishing a round to its deadline. */
  roundMs: number;
  codec: CodecSettings;
  aggregation: AggregationRule;
  outer: OuterOptions;
}

/** Defaults sized for the `tiny` model on a software adapter: a round takes a minute or so. */
export const DEFAULT_FED_SETTINGS: FedSettings = {
  hyper: { steps: 20, batchSize: 4, context: 64, lr: 3e-3, weightDecay: 0.1, dataSeed: 1 },
  shardCount: 64,
  roundMs: 120_000,
  codec: { format: 'int8', blockSize: 256, density: 1 },
  aggregation: 'trimmed-mean',
  // DiLoCo's outer lr with less momentum. Douillard et al. 2023 (arXiv:2311.08105) found lr 0.7 and
  // Nesterov μ = 0.9 best at H = 500; with tens of local steps the pseudo-gradients of consecutive
  // rounds point the same way and μ = 0.9 builds an effective step of up to lr/(1 − μ) = 7× that
  // overshot in our runs (validation loss rose in round 3).
  outer: { lr: 0.7, momentum: 0.5, nesterov: true },
};

export interface HistoryEntry {
  /** Rounds completed when the global model was evaluated (0: the initial weights). */
  round: number;
  /** Training tokens of all accepted updates so far. */
  tokens: number;
  valLoss: number;
}

/** Everything a checkpoint holds: enough to resume with identical weights. */
export interface CoordinatorState {
  /** The open round's number = rounds completed. */
  round: number;
  params: Float32Array;
  momentum: Float32Array;
  history: HistoryEntry[];
  tokens: number;
  acceptedUpdates: number;
  rejectedUpdates: number;
}

export interface CoordinatorDeps {
  key: PrivateKey;
  peerId: PeerId;
  /** sha256 of the token files volunteers train and evaluate on. */
  data: { train: string; validation: string };
  /** Puts `params` up for download as a signed weights manifest; returns it. */
  publishWeights(params: Float32Array, name: string): Promise<VerifiedManifest>;
  /** Tells volunteers about a new round (gossip, HTTP). */
  publishRound(signed: SignedDocument, round: RoundManifest): void;
  /** Whether a volunteer is still connected (a closed tab is not assigned again). */
  isConnected(peer: string): boolean;
  /** Mean validation loss of `params` on the fixed validation batches. */
  evaluate(params: Float32Array): Promise<number>;
  /**
   * Writes the state atomically; called after every completed round. When it fails (a full disk)
   * the round is not applied: closing is tried again CLOSE_RETRY_MS later.
   */
  persist(state: CoordinatorState): Promise<void>;
  /** Keeps a signed receipt durably (the ledger behind volunteers' credits) before it is sent. */
  recordReceipt(signed: SignedDocument): Promise<void>;
  log(line: string): void;
  /** Time of deadlines and receipts (tests move a manual one). Default: the system's. */
  clock?: Clock;
}

export interface CoordinatorStatus {
  round: number;
  volunteers: number;
  acceptedUpdates: number;
  rejectedUpdates: number;
  tokens: number;
  history: HistoryEntry[];
  /** The open round: who is assigned and who has reported. */
  open: { round: number; deadline: number; assigned: number; received: number };
}

/** Time between two tries at closing a round whose close failed (evaluation, checkpoint, publishing). */
export const CLOSE_RETRY_MS = 10_000;

/** Shortest time between two issues of a round (a join into a round that assigns nobody reissues it). */
export const MIN_REISSUE_MS = 5_000;

/**
 * Loose bound on an honest pseudo-gradient's norm: AdamW moves each parameter by at most about
 * lr·(1 − β1)/√(1 − β2) ≈ 3.2·lr per step (in its first steps), so H steps move the vector by at
 * most ~H·3.2·lr·√P; we allow 4 instead of 3.2. Subtler outliers are the aggregation's job.
 */
export function maxUpdateNorm(hyper: RoundHyper, parameters: number): number {
  return 4 * hyper.steps * hyper.lr * Math.sqrt(parameters);
}

interface OpenRound {
  manifest: RoundManifest;
  weights: VerifiedManifest;
  updates: Map<string, { vector: Float32Array; tokens: number }>;
  /** Volunteers whose update arrived whole, accepted or not: one try per round each. */
  tried: Set<string>;
  closing: boolean;
  cancelDeadline: () => void;
}

export interface Coordinator {
  /** Starts (or resumes) the run: publishes the open round. */
  start(): Promise<void>;
  onJoin(peer: string): number;
  /** Why the update a header announces cannot be used, checked before its body is read; or undefined. */
  admit(peer: string, header: UpdateHeader): string | undefined;
  /** An admitted update's body arrived: decodes, validates and keeps it; returns the signed receipt. */
  onUpdate(peer: string, header: UpdateHeader, body: Uint8Array): Promise<SignedDocument>;
  status(): CoordinatorStatus;
  /** The open round's signed manifest. */
  currentRound(): SignedDocument | undefined;
  state(): CoordinatorState;
  stop(): void;
}

export function createCoordinator(deps: CoordinatorDeps, settings: FedSettings, state: CoordinatorState): Coordinator {
  const joined = new Set<string>();
  let open: OpenRound | undefined;
  let signedRound: SignedDocument | undefined;
  let stopped = false;
  const clock = deps.clock ?? systemClock;
  const maxNorm = maxUpdateNorm(settings.hyper, state.params.length);
  const maxBytes = encodedSize(state.params.length, settings.codec);
  let publishedAt = Number.NEGATIVE_INFINITY;
  let cancelReissue: (() => void) | undefined;
  let cancelRetry: (() => void) | undefined;

  async function publish(): Promise<void> {
    cancelReissue?.();
    cancelReissue = undefined;
    publishedAt = clock.now();
    const weights = await deps.publishWeights(state.params, `round ${state.round}`);
    // Volunteers that left are forgotten (they join again when they come back).
    for (const peer of joined) if (!deps.isConnected(peer)) joined.delete(peer);
    const roster = [...joined].slice(0, settings.shardCount);
    // Shards rotate with the round, so over rounds each volunteer sees different data.
    const assignments = Object.fromEntries(roster.map((peer, i) => [peer, (i + state.round) % settings.shardCount]));
    const manifest: RoundManifest = {
      kind: 'vgpu/round',
      version: 1,
      round: state.round,
      weights: weights.signed,
      weightsId: weights.id,
      data: deps.data,
      hyper: settings.hyper,
      shardCount: settings.shardCount,
      assignments,
      deadline: clock.now() + settings.roundMs,
      codec: settings.codec,
      maxNorm,
    };
    const signed = await signRoundManifest(deps.key, deps.peerId, manifest);
    if (stopped) return;
    signedRound = signed;
    open?.cancelDeadline();
    open = {
      manifest,
      weights,
      updates: new Map(),
      tried: new Set(),
      closing: false,
      cancelDeadline: clock.after(settings.roundMs, () => void closeLogged()),
    };
    deps.publishRound(signedRound, manifest);
    deps.log(
      `round ${state.round}: ${roster.length} volunteer(s) assigned, deadline in ${(settings.roundMs / 1000).toFixed(0)} s`,
    );
  }

  async function close(): Promise<void> {
    const r = open;
    if (!r || r.closing || stopped) return;
    r.closing = true;
    r.cancelDeadline();
    const updates = [...r.updates.values()];
    if (updates.length === 0) {
      deps.log(`round ${state.round}: no update before the deadline; issuing it again`);
      await publish();
      return;
    }
    // The next state is built aside and takes over only once it is checkpointed: a failed write
    // (a full disk) leaves the run as it was, and the close is tried again.
    const params = state.params.slice();
    const momentum = state.momentum.slice();
    outerStep(
      params,
      momentum,
      aggregate(
        updates.map((u) => u.vector),
        settings.aggregation,
      ),
      settings.outer,
    );
    const round = state.round + 1;
    const tokens = state.tokens + updates.reduce((n, u) => n + u.tokens, 0);
    const valLoss = await deps.evaluate(params);
    const applied = { round, params, momentum, tokens, history: [...state.history, { round, tokens, valLoss }] };
    await deps.persist({ ...state, ...applied });
    // Only what the close computed: the counters may have moved meanwhile (late updates refused).
    Object.assign(state, applied);
    deps.log(
      `round ${round - 1} closed: ${updates.length} update(s) aggregated (${settings.aggregation}), validation loss ${valLoss.toFixed(4)}, ${tokens} tokens seen`,
    );
    if (!stopped) await publish();
  }

  /**
   * A failure while closing (evaluation, checkpoint, publishing) is logged and tried again
   * CLOSE_RETRY_MS later: the round stays closed to updates meanwhile, and nothing half-done counts.
   */
  async function closeLogged(): Promise<void> {
    const r = open;
    try {
      await close();
    } catch (e) {
      deps.log(
        `closing round ${state.round} failed: ${(e as Error).message}; trying again in ${CLOSE_RETRY_MS / 1000} s`,
      );
      if (stopped || !r) return;
      cancelRetry = clock.after(CLOSE_RETRY_MS, () => {
        cancelRetry = undefined;
        if (stopped || r !== open) return;
        if (state.round > r.manifest.round) {
          // Checkpointed, not yet published.
          void publish().catch(() => void closeLoggedAgain(r));
        } else {
          r.closing = false;
          void closeLogged();
        }
      });
    }
  }

  /** Publishing the next round failed again: keep trying on the same cadence. */
  function closeLoggedAgain(r: OpenRound): void {
    deps.log(`publishing round ${state.round} failed; trying again in ${CLOSE_RETRY_MS / 1000} s`);
    cancelRetry = clock.after(CLOSE_RETRY_MS, () => {
      cancelRetry = undefined;
      if (!stopped && r === open) void publish().catch(() => closeLoggedAgain(r));
    });
  }

  async function receipt(
    peer: string,
    header: UpdateHeader,
    body: Uint8Array,
    reason?: string,
  ): Promise<SignedDocument> {
    const r: Receipt = {
      kind: 'vgpu/receipt',
      version: 1,
      round: header.round,
      peer,
      tokens: reason ? 0 : header.tokens,
      accepted: !reason,
      ...(reason ? { reason } : {}),
      update: await sha256Hex(body),
      bytes: body.length,
      at: clock.now(),
    };
    if (reason) {
      state.rejectedUpdates++;
      deps.log(`rejected an update from ${peer} for round ${header.round}: ${reason}`);
    } else {
      state.acceptedUpdates++;
    }
    const signed = await signReceipt(deps.key, deps.peerId, r);
    await deps.recordReceipt(signed);
    return signed;
  }

  /** Why this update cannot be used, checked before decoding it. */
  function admission(peer: string, header: UpdateHeader, r: OpenRound | undefined): string | undefined {
    if (!r || header.round < r.manifest.round || (header.round === r.manifest.round && r.closing))
      return `late: round ${header.round} is closed`;
    if (header.round > r.manifest.round) return `round ${header.round} has not started`;
    if (header.weights !== r.weights.id) return "trained from other weights than the round's";
    if (!(peer in r.manifest.assignments))
      return 'not assigned in this round (a volunteer that joins is assigned from the next round)';
    if (r.tried.has(peer)) return 'duplicate: this round already has an update from this peer';
    const h = r.manifest.hyper;
    if (header.tokens > h.steps * h.batchSize * h.context)
      return `claims ${header.tokens} tokens, more than the round's ${h.steps}×${h.batchSize}×${h.context}`;
    if (header.bytes > maxBytes) return `${header.bytes} bytes, more than the round's codec makes (${maxBytes})`;
    return undefined;
  }

  /**
   * A join into a round that assigns nobody issues the round again with the joiner in it, at most
   * once per MIN_REISSUE_MS (joins from throwaway identities must not make the seed hash and sign
   * the weights again and again).
   */
  function reissueSoon(): void {
    if (cancelReissue || !open || open.closing) return;
    const r = open;
    cancelReissue = clock.after(Math.max(0, publishedAt + MIN_REISSUE_MS - clock.now()), () => {
      cancelReissue = undefined;
      if (r !== open || r.closing || stopped) return;
      r.closing = true;
      void publish().catch((e: Error) => deps.log(`publishing failed: ${e.message}`));
    });
  }

  /** Decodes and validates an admitted update, keeps it if good; returns its receipt either way. */
  async function take(r: OpenRound, peer: string, header: UpdateHeader, body: Uint8Array): Promise<SignedDocument> {
    let vector: Float32Array;
    try {
      vector = decodeUpdate(body, state.params.length);
    } catch (e) {
      return receipt(peer, header, body, (e as Error).message);
    }
    const invalid = validateUpdate(
      { round: header.round, manifest: header.weights, vector },
      { round: r.manifest.round, manifest: r.weights.id, length: state.params.length, maxNorm },
    );
    if (invalid) return receipt(peer, header, body, invalid);
    // The round may have closed while this one was decoding.
    if (r !== open || r.closing) return receipt(peer, header, body, `late: round ${header.round} is closed`);
    r.updates.set(peer, { vector, tokens: header.tokens });
    return receipt(peer, header, body);
  }

  return {
    async start() {
      if (state.history.length === 0) {
        const valLoss = await deps.evaluate(state.params);
        state.history.push({ round: 0, tokens: 0, valLoss });
        deps.log(`initial validation loss ${valLoss.toFixed(4)}`);
      }
      await publish();
    },
    onJoin(peer) {
      joined.add(peer);
      // Nobody to wait for: issue the round again soon, with this volunteer in it.
      if (open && !open.closing && Object.keys(open.manifest.assignments).length === 0) {
        reissueSoon();
        return state.round;
      }
      return state.round + 1;
    },
    admit: (peer, header) => admission(peer, header, open),
    async onUpdate(peer, header, body) {
      const r = open;
      // Admitted before its body was read; the round may have moved on since.
      const refused = admission(peer, header, r);
      if (refused || !r) return receipt(peer, header, body, refused);
      r.tried.add(peer);
      const signed = await take(r, peer, header, body);
      // Everyone assigned and still connected has had its try: close now.
      const waiting = Object.keys(r.manifest.assignments).filter((p) => !r.tried.has(p) && deps.isConnected(p));
      if (waiting.length === 0 && r === open && !r.closing) void closeLogged();
      return signed;
    },
    status() {
      return {
        round: state.round,
        volunteers: [...joined].filter(deps.isConnected).length,
        acceptedUpdates: state.acceptedUpdates,
        rejectedUpdates: state.rejectedUpdates,
        tokens: state.tokens,
        history: state.history,
        open: {
          round: state.round,
          deadline: open?.manifest.deadline ?? 0,
          assigned: Object.keys(open?.manifest.assignments ?? {}).length,
          received: open?.updates.size ?? 0,
        },
      };
    },
    currentRound: () => signedRound,
    state: () => state,
    stop() {
      stopped = true;
      open?.cancelDeadline();
      cancelReissue?.();
      cancelRetry?.();
    },
  };
}
