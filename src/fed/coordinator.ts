// The seed's side of federated training (DiLoCo): a run is a sequence of rounds. Each round the
// coordinator publishes a signed round manifest (weights, data, hyperparameters, each volunteer's
// shard, a deadline); volunteers run H local AdamW steps and send their pseudo-gradient; the round
// closes when every assigned volunteer has reported or at the deadline, whichever comes first; the
// accepted updates are aggregated robustly and applied with an outer Nesterov step; the global
// model is evaluated, the state checkpointed, and the next round published.
//
// Rules: a volunteer that joins during round r is assigned from round r+1 (roster.ts chooses who,
// fairly under sybil floods). An update for a round that is closed (or closing) is refused as late:
// it was computed from old weights. A round that closes with no accepted update is issued again with
// a fresh roster and deadline.
//
// Trust: an update is admitted by its header (assigned, in time, within the codec's size), then by
// its vector (finite, normFloor ≤ ‖Δ‖ ≤ normBound of the recent accepted norms: defense.ts). At the
// close the work behind the updates is verified (deps.verify: verify.ts's verifyRound, re-executing
// at most reexecutionsPerRound of them, newcomers first; the seed runs it off its event loop), and
// only the verified ones are aggregated, with the run's robust rule from the defense state carried
// between rounds (centered clipping around the last aggregate), and credited.
//
// Memory: a round does not hold its updates. Each admitted update is folded into one of
// settings.buckets bucket sums as it arrives (buckets.ts), its bytes go to the spool (spool.ts) for
// verification to load one at a time, and what stays on the heap is a count sketch of it (sketch.ts)
// for duplicate detection, its norm and its distance to the reference. A rejected update is taken back
// out of its bucket at the close, and the rule runs across the buckets, in slices between events.
//
// Credit: an update that arrives whole is acknowledged ({received} or {rejected, reason}, unsigned);
// rejections are counted, not signed or stored one by one. Receipts are issued only once the round's
// checkpoint is durable, for the volunteers whose updates were accepted, crediting the round's
// assigned tokens; the checkpoint carries them, so a restart issues them (the ledger adds none twice).
// Volunteers fetch them with a receipts request.
import type { PeerId, PrivateKey } from '@libp2p/interface';
import type { GptConfig } from '../model';
import { type SignedDocument, sha256Hex, type VerifiedManifest } from '../swarm';
import { type Clock, systemClock } from '../util/clock';
import { type AggregationRule, DEFAULT_AGGREGATION, distance, l2Norm } from './aggregate';
import { createRoundBuckets, type RoundBuckets, STREAMING_BUCKETS } from './buckets';
import { decodeUpdate, encodedSize } from './codec';
import { admissionBounds, aggregateStreamedRound, type DefenseState, freshDefense } from './defense';
import {
  type CodecSettings,
  type LedgerRoot,
  type ReceiptEntry,
  type RoundHyper,
  type RoundManifest,
  signRoundManifest,
} from './documents';
import type { Contributor, PartialHeader } from './helper-protocol';
import { type AdapterClass, estimateEnergy, gramsCO2, trainingFlops } from './impact';
import { type OuterOptions, outerStep } from './outer';
import type { ReceiptsReply, UpdateHeader, UpdateOutcome } from './protocol';
import { recentByRound } from './recent';
import { chooseRoster, recordRound, type VolunteerRecord } from './roster';
import { encodeRoundDelta } from './round-delta';
import { checkLrSchedule, type LrSchedule, scheduledLr } from './schedule';
import { meanSecondMoment } from './second-moment';
import { createSketcher } from './sketch';
import { memorySpool, type UpdateSpool } from './spool';
import { assignedUpdateRefusal, decodeValidUpdate } from './validate';
import { creditedTokens, type RoundTerms, type RoundUpdates, type UpdateVerdict } from './verify';

/**
 * The verdicts on a round's updates, by peer, as far as the coordinator reads them (verify.ts's
 * UpdateVerdict), with the second moment of an update's round when a re-execution reproduced it.
 */
export type Verdicts = ReadonlyMap<
  string,
  Pick<UpdateVerdict, 'accepted' | 'reason' | 'excused' | 'caught'> & { secondMoment?: Uint8Array }
>;

export interface FedSettings {
  hyper: RoundHyper;
  /** The training split is cut into this many shards; at most this many volunteers per round. */
  shardCount: number;
  /** Time from publishing a round to its deadline. */
  roundMs: number;
  codec: CodecSettings;
  aggregation: AggregationRule;
  outer: OuterOptions;
  /**
   * Updates whose work the seed may re-execute per round: its CPU, one volunteer's round each. Only
   * updates that passed the cheap checks use it (idle or garbage-sending identities cost nothing),
   * newcomers first; a newcomer past it is excused, not credited (verify.ts).
   */
  reexecutionsPerRound: number;
  /** Bucket sums a round folds its updates into (buckets.ts): its memory, and how finely the rule sees them. */
  buckets: number;
  /** The inner lr over the run's rounds (schedule.ts); every round has `hyper.lr` without one. */
  lrSchedule?: LrSchedule;
  /**
   * The codec of each round's change of the weights (round-delta.ts), which volunteers holding the
   * last round's weights download instead of the whole vector; absent: the whole vector only.
   */
  deltaCodec?: CodecSettings;
  /**
   * Rounds name AdamW's second moment for their trainers to start from (second-moment.ts): the
   * mean of the last re-executions' final v, which the seed computed itself.
   */
  shareSecondMoment?: boolean;
}

/** Defaults sized for the `tiny` model on a software adapter: a round takes a minute or so. */
export const DEFAULT_FED_SETTINGS: FedSettings = {
  // H = 64: with the shared second moment a longer round costs little quality and halves what a
  // volunteer sends per step (bench/results/federated-sweep.json: H 16 to 64). One row a step keeps a
  // round at 4,096 tokens, some 35 s of a tab on a software adapter (about 120 tokens/s), so that a
  // newcomer's first round is credited within a minute.
  hyper: { steps: 64, batchSize: 1, context: 64, lr: 3e-3, weightDecay: 0.1, dataSeed: 1 },
  shardCount: 64,
  roundMs: 120_000,
  // int4 with error feedback: the same validation loss as int8 at half the upload, and the Byzantine
  // benchmark's detection goals still met (bench/results/byzantine.json, centered-clip:int4).
  codec: { format: 'int4', blockSize: 256, density: 1 },
  aggregation: DEFAULT_AGGREGATION,
  // DiLoCo's outer lr with less momentum. Douillard et al. 2023 (arXiv:2311.08105) found lr 0.7 and
  // Nesterov μ = 0.9 best at H = 500; with tens of local steps the pseudo-gradients of consecutive
  // rounds point the same way and μ = 0.9 builds an effective step of up to lr/(1 − μ) = 7× that
  // overshot in our runs (validation loss rose in round 3).
  outer: { lr: 0.7, momentum: 0.5, nesterov: true },
  // A re-execution of the tiny model's default round (H = 64 steps of 1 × 64 tokens) takes one core of
  // the seed's CPU about 6 s (88 ms a step): four fit in a round's 120 s while volunteers train.
  reexecutionsPerRound: 4,
  buckets: STREAMING_BUCKETS,
  // int4 deltas cost nothing measurable at the federated benchmark's budget (val_loss 5.961 against
  // 5.981 with the whole weights) and cut a volunteer's download 5× (bench/results/federated-sweep.json).
  deltaCodec: { format: 'int4', blockSize: 256, density: 1 },
  // A round that starts AdamW from the last round's v instead of afresh: the largest verifiable
  // gain the federated benchmark found (bench/results/federated.json).
  shareSecondMoment: true,
};

export interface HistoryEntry {
  /** Rounds completed when the global model was evaluated (0: the initial weights). */
  round: number;
  /** Training tokens of all accepted updates so far. */
  tokens: number;
  valLoss: number;
  /**
   * This round's accepted updates (absent for round 0 and in older checkpoints): their verified
   * FLOPs, the GPU-busy seconds their volunteers measured, and the energy estimate (impact.ts).
   */
  flops?: number;
  gpuSeconds?: number;
  estimatedWh?: number;
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
  /**
   * Receipts of the last closed round, issued once its checkpoint is durable, and again after a
   * restart (the ledger adds none twice).
   */
  pendingReceipts: ReceiptEntry[];
  /** What the seed remembers of each volunteer: admission prefers the verified (roster.ts). */
  volunteers: Record<string, VolunteerRecord>;
  /** The robust rules' memory: the last aggregate, recent norms and distances (defense.ts). */
  defense: DefenseState;
  /** What the round deltas have not sent yet of the weights' changes (round-delta.ts); absent before the first. */
  residual?: Float32Array;
  /** The last closed round's delta: from which weights (manifest id), and its bytes under `settings.deltaCodec`. */
  delta?: PublishedDelta;
  /** The second moment the next round names (second-moment.ts's codes); absent until a re-execution gave one. */
  secondMoment?: Uint8Array;
}

export interface PublishedDelta {
  from: string;
  codec: CodecSettings;
  bytes: Uint8Array;
}

/** What a round publishes besides its weights. */
export interface RoundExtras {
  delta?: PublishedDelta;
  /** Codes (second-moment.ts). */
  secondMoment?: Uint8Array;
}

export interface PublishedRound {
  weights: VerifiedManifest;
  delta?: SignedDocument;
  secondMoment?: SignedDocument;
}

/** The state of a run that has completed no round: `params` are its initial weights (kept, not copied). */
export function freshCoordinatorState(params: Float32Array): CoordinatorState {
  return {
    round: 0,
    params,
    momentum: new Float32Array(params.length),
    history: [],
    tokens: 0,
    acceptedUpdates: 0,
    rejectedUpdates: 0,
    pendingReceipts: [],
    volunteers: {},
    defense: freshDefense(),
  };
}

/** A round's verification, as the coordinator asks for it at the close. */
export interface VerifyJob {
  manifest: RoundTerms;
  /** The round's start weights. */
  start: Float32Array;
  /** The updates that passed admission: sketches at hand, vectors loaded from the spool. */
  updates: RoundUpdates;
  /** Each volunteer's verified rounds in a row so far (VolunteerRecord.streak). */
  streaks: ReadonlyMap<string, number>;
  /** The sketches of the last round's accepted updates (a replay of one is rejected); absent after a restart. */
  earlier?: ReadonlyMap<string, Float32Array>;
  maxReexecutions: number;
  /** The second moment the round named: re-executions start from it. */
  secondMoment?: Uint8Array;
}

export interface CoordinatorDeps {
  key: PrivateKey;
  peerId: PeerId;
  /** sha256 of the token files volunteers train and evaluate on. */
  data: { train: string; validation: string };
  /**
   * Puts `params` up for download as a signed weights manifest, and with it, when given, `delta` as a
   * signed delta manifest that rebuilds them from its `from`, and `secondMoment` as a signed
   * second-moment manifest; returns what it signed.
   */
  publishWeights(params: Float32Array, name: string, extras?: RoundExtras): Promise<PublishedRound>;
  /** Tells volunteers about a new round (gossip, HTTP). */
  publishRound(signed: SignedDocument, round: RoundManifest): void;
  /** Whether a volunteer is still connected (a closed tab is not assigned again). */
  isConnected(peer: string): boolean;
  /** The IP address a volunteer connects from (newcomers' slots are shared per address). */
  addressOf(peer: string): string | undefined;
  /** Mean validation loss of `params` on the fixed validation batches. */
  evaluate(params: Float32Array): Promise<number>;
  /** Verifies the work behind a round's updates: a verdict for each (verify.ts's verifyRound). */
  verify(job: VerifyJob): Promise<Verdicts>;
  /**
   * Writes the state atomically; called after every completed round. When it fails (a full disk)
   * the round is not applied: closing is tried again CLOSE_RETRY_MS later.
   */
  persist(state: CoordinatorState): Promise<void>;
  /**
   * Signs and appends receipts to the ledger, durably, skipping any (peer, round) it holds; returns
   * the ones appended. Throws when the write fails (a full disk): issuing is tried again.
   */
  issueReceipts(entries: ReceiptEntry[]): Promise<SignedDocument[]>;
  /** The ledger's root, for the next round manifest. */
  ledgerRoot(): LedgerRoot;
  /** `peer`'s receipts of rounds `since` and later that the ledger still has at hand. */
  recentReceipts(peer: string, since: number): SignedDocument[];
  log(line: string): void;
  /** Time of deadlines and receipts (tests move a manual one). Default: the system's. */
  clock?: Clock;
  /** Where update bodies wait for verification (the seed's: a folder). Default: memorySpool. */
  spool?: UpdateSpool;
  /** A sampled update behind a helper's partial, as its volunteer sent it (helper-protocol.ts); none: no partials taken. */
  fetchSample?(helper: string, round: number, peer: string): Promise<Uint8Array>;
  /** The grid's carbon intensity (gCO₂/kWh) in `region` at `at`, from the run's schedule (grid.ts); none: no gCO₂ figures. */
  gridIntensity?(region: string, at: number): number | undefined;
}

/**
 * Why an update was rejected, by kind (a bounded set: /metrics labels them): undecodable bytes, a
 * decoded vector that fails validation (shape, norm, NaN), one that came after its round closed,
 * one the round does not admit (not assigned, other weights, a round not started), one that
 * failed verification at the close.
 */
export const REJECTION_KINDS = ['malformed', 'invalid', 'late', 'refused', 'unverified'] as const;
export type RejectionKind = (typeof REJECTION_KINDS)[number];
/** The kinds a helper seed refuses: the root's but `unverified` (only the root verifies). */
export type HelperRejectionKind = Exclude<RejectionKind, 'unverified'>;
export const HELPER_REJECTION_KINDS = REJECTION_KINDS.filter((k): k is HelperRejectionKind => k !== 'unverified');

export interface CoordinatorStatus {
  round: number;
  volunteers: number;
  acceptedUpdates: number;
  rejectedUpdates: number;
  /** Rejections since this process started, by kind, those refused from their header included. */
  rejectedByKind: Record<RejectionKind, number>;
  /** Rounds aggregated since this process started, and their aggregation's time (robust rule and outer step). */
  aggregation: { rounds: number; seconds: number; lastSeconds: number };
  tokens: number;
  history: HistoryEntry[];
  /** The open round: who is assigned and who has reported. */
  open: { round: number; deadline: number; assigned: number; received: number };
}

/** Updates behind each helper's partial that the root draws and checks at the close, like direct ones. */
export const PARTIAL_SAMPLES = 2;

/** A partial's codec: dense fp32, so averaging at the helper adds no rounding of its own. */
const FP32: CodecSettings = { format: 'fp32', blockSize: 256, density: 1 };

/** Time between two tries at closing a round whose close failed (evaluation, checkpoint, publishing). */
export const CLOSE_RETRY_MS = 10_000;

/**
 * Shortest time between two issues of a round (a join into a round that assigns nobody, or a round
 * that closed with nothing usable, reissues it): strangers must not make the seed hash and sign again
 * and again.
 */
export const MIN_REISSUE_MS = 5_000;
/**
 * A volunteer that joins while a round is open is assigned into it (the round's manifest is issued
 * again, amended, with the same weights and deadline) while at least this share of the round is
 * left: a newcomer's first credited work then comes within one round's training, not after the
 * round in progress. Past it the newcomer waits for the next round, as its work would come late.
 */
export const LATE_JOIN_MIN_LEFT = 0.6;

/**
 * How long an assigned volunteer may be disconnected before the round stops waiting for it: a tab's
 * link to the seed drops and comes back (a reload, a network change) without it having left.
 */
export const LEFT_GRACE_MS = 10_000;

/**
 * Loose bound on an honest pseudo-gradient's norm: AdamW moves each parameter by at most about
 * lr·(1 − β1)/√(1 − β2) ≈ 3.2·lr per step (in its first steps), so H steps move the vector by at
 * most ~H·3.2·lr·√P; we allow 4 instead of 3.2. Subtler outliers are the aggregation's job.
 */
export function maxUpdateNorm(hyper: RoundHyper, parameters: number): number {
  return 4 * hyper.steps * hyper.lr * Math.sqrt(parameters);
}

/** What a round keeps of an update that arrived whole and passed validation (its vector is in a bucket, its bytes in the spool). */
interface TakenUpdate {
  /** sha256 and size of its bytes. */
  hash: string;
  bytes: number;
  /** What its volunteer measured and chose (its header's, bounded), for the receipt's impact figures. */
  impact?: UpdateImpact;
  norm: number;
  /** Its distance to the defense's reference (centered clipping's radius follows these). */
  distance: number;
  sketch: Float32Array;
}

/** A helper's partial aggregate in a round (its mean is a bucket of its own). */
interface OpenPartial {
  contributors: Contributor[];
  /** The contributors whose updates the root drew to check, at the close. */
  sampled: string[];
  /** Why it could not be checked, once known. */
  unchecked?: string;
}

interface OpenRound {
  manifest: RoundManifest;
  weights: VerifiedManifest;
  /** The second moment the round named. */
  secondMoment?: Uint8Array;
  /** This issue of the round in the spool (a reissue is a new batch). */
  batch: number;
  /** The norms this round admits (defense.ts's admissionBounds when it was issued). */
  bounds: { floor: number; bound: number };
  updates: Map<string, TakenUpdate>;
  /** Helpers' partials, by helper; and the sampled updates behind them, by peer (checked at the close). */
  partials: Map<string, OpenPartial>;
  samples: Map<string, TakenUpdate>;
  buckets: RoundBuckets;
  /** Volunteers whose update arrived whole, accepted or not: one try per round each. */
  tried: Set<string>;
  closing: boolean;
  /** Updates and partials that arrived and are still being taken in (decoded, stored): the round waits for them. */
  taking: number;
  cancelDeadline: () => void;
}

export interface Coordinator {
  /** Starts (or resumes) the run: issues receipts a restart left pending, publishes the open round. */
  start(): Promise<void>;
  onJoin(peer: string): number;
  /**
   * A volunteer holds for a while (its hours, a dirty grid): it is assigned nothing until it joins
   * again, and the open round stops waiting for it.
   */
  onLeave(peer: string): void;
  /** Why the update a header announces cannot be used, checked before its body is read; or undefined. */
  admit(peer: string, header: UpdateHeader): string | undefined;
  /** An admitted update's body arrived: decodes, validates and keeps it; says whether it was received. */
  onUpdate(peer: string, header: UpdateHeader, body: Uint8Array): Promise<UpdateOutcome>;
  /** Why a helper's partial cannot be used, from its signed terms, before its body is read; or undefined. */
  admitPartial(helper: string, partial: PartialHeader): string | undefined;
  /** A partial's body arrived (the fp32 mean of its contributors' updates): kept as a bucket of its own. */
  onPartial(helper: string, partial: PartialHeader, body: Uint8Array): Promise<UpdateOutcome>;
  /** `peer`'s receipts and rejections of rounds `since` and later, and the last round closed. */
  receipts(peer: string, since: number): ReceiptsReply;
  /**
   * A volunteer disconnected (or a helper, with its volunteers): the round stops waiting for whoever
   * stays away LEFT_GRACE_MS, and closes once nobody is left to wait for.
   */
  onLeft(): void;
  status(): CoordinatorStatus;
  /** The open round's signed manifest. */
  currentRound(): SignedDocument | undefined;
  state(): CoordinatorState;
  /** Stops its timers and waits for a close in progress (it may be writing the run folder). */
  stop(): Promise<void>;
}

export function createCoordinator(deps: CoordinatorDeps, settings: FedSettings, state: CoordinatorState): Coordinator {
  const joined = new Set<string>();
  let open: OpenRound | undefined;
  let signedRound: SignedDocument | undefined;
  let stopped = false;
  const clock = deps.clock ?? systemClock;
  if (settings.lrSchedule) checkLrSchedule(settings.lrSchedule);
  /** The analytic bound on an update's norm (the schedule and the warm-up only ever lower lr); each round admits up to admissionBounds' tighter one. */
  const maxNorm = maxUpdateNorm(settings.hyper, state.params.length);
  /** The last closed round's accepted updates' sketches: verification rejects replays of them (not kept over a restart). */
  let earlier: Map<string, Float32Array> | undefined;
  const spool = deps.spool ?? memorySpool();
  let batches = 0;
  /** Secret to volunteers: which bucket an update lands in, and the sketches' hashing. */
  const secretRandom = () => crypto.getRandomValues(new Uint32Array(1))[0]! / 2 ** 32;
  const sketch = createSketcher(state.params.length, crypto.getRandomValues(new Uint32Array(1))[0]!);
  const maxBytes = encodedSize(state.params.length, settings.codec);
  /** A helper's partial: the dense fp32 mean of its volunteers' updates. */
  const partialBytes = encodedSize(state.params.length, FP32);
  let publishedAt = Number.NEGATIVE_INFINITY;
  let cancelReissue: (() => void) | undefined;
  /** A pending amendment of the open round (amendSoon). */
  let cancelAmend: (() => void) | undefined;
  let cancelRetry: (() => void) | undefined;
  /** The last round whose receipts are in the ledger (a volunteer without one there was not credited). */
  let issuedThrough = -1;
  /** Why each update was not credited, the last RECENT_ROUNDS_KEPT rounds. */
  const rejections = recentByRound<string>();
  const rejectedByKind = Object.fromEntries(REJECTION_KINDS.map((k) => [k, 0])) as Record<RejectionKind, number>;
  let aggregation = { rounds: 0, seconds: 0, lastSeconds: 0 };
  /** Assigned volunteers of the open round seen disconnected, and since when. */
  const goneSince = new Map<string, number>();
  let cancelRecheck: (() => void) | undefined;
  /** The close in progress, if any (stop waits for it). */
  let closing: Promise<void> | undefined;

  /** Issues the receipts of the last closed round (checkpointed already); throws if the ledger cannot take them. */
  async function issuePending(): Promise<void> {
    await deps.issueReceipts(state.pendingReceipts);
    issuedThrough = state.round - 1;
  }

  /** Forgets an issue's spooled bodies; a failure (the folder gone) is logged, the start of the next run clears it. */
  function dropBatch(batch: number): void {
    spool.drop(batch).catch((e: Error) => deps.log(`could not clear spooled updates: ${e.message}`));
  }

  async function publish(): Promise<void> {
    cancelReissue?.();
    cancelReissue = undefined;
    cancelAmend?.();
    cancelAmend = undefined;
    publishedAt = clock.now();
    // (Awaited only when there is something to issue: a reissue asks for its weights at once.)
    if (issuedThrough < state.round - 1) await issuePending();
    const secondMoment = settings.shareSecondMoment ? state.secondMoment : undefined;
    const published = await deps.publishWeights(state.params, `round ${state.round}`, {
      delta: state.delta,
      secondMoment,
    });
    const { weights } = published;
    // Volunteers that left are forgotten (they join again when they come back).
    for (const peer of joined) if (!deps.isConnected(peer)) joined.delete(peer);
    const roster = chooseRoster({
      candidates: [...joined],
      records: state.volunteers,
      addressOf: deps.addressOf,
      slots: settings.shardCount,
      round: state.round,
    });
    const lr = scheduledLr(settings.hyper.lr, settings.lrSchedule, state.round);
    const bounds = admissionBounds(state.defense, maxNorm, lr / settings.hyper.lr);
    // Shards rotate with the round, so over rounds each volunteer sees different data.
    const assignments = Object.fromEntries(roster.map((peer, i) => [peer, (i + state.round) % settings.shardCount]));
    const manifest: RoundManifest = {
      kind: 'vgpu/round',
      version: 2,
      round: state.round,
      weights: weights.signed,
      weightsId: weights.id,
      data: deps.data,
      hyper: { ...settings.hyper, lr },
      shardCount: settings.shardCount,
      assignments,
      deadline: clock.now() + settings.roundMs,
      codec: settings.codec,
      maxNorm: bounds.bound,
      ledger: deps.ledgerRoot(),
      ...(published.delta ? { delta: published.delta } : {}),
      ...(published.secondMoment ? { secondMoment: published.secondMoment } : {}),
    };
    const signed = await signRoundManifest(deps.key, deps.peerId, manifest);
    if (stopped) return;
    signedRound = signed;
    open?.cancelDeadline();
    if (open) dropBatch(open.batch);
    open = {
      manifest,
      weights,
      secondMoment,
      batch: batches++,
      bounds,
      updates: new Map(),
      partials: new Map(),
      samples: new Map(),
      buckets: createRoundBuckets(state.params.length, settings.buckets, secretRandom),
      tried: new Set(),
      closing: false,
      taking: 0,
      cancelDeadline: clock.after(settings.roundMs, () => void closeLogged()),
    };
    goneSince.clear();
    cancelRecheck?.();
    cancelRecheck = undefined;
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
    const assigned = Object.keys(r.manifest.assignments);
    // (Awaited only when there are partials: a round without them closes in the deadline's own turn.)
    const unchecked = r.partials.size > 0 ? await fetchSamples(r) : new Map<string, string>();
    if (stopped) return;
    // Direct updates and the sampled ones behind partials: verification cannot tell them apart.
    const received = [...r.updates, ...r.samples];
    const load = async (peer: string) =>
      decodeUpdate(await spool.get(r.batch, peer), state.params.length, r.manifest.codec);
    const verdicts: Verdicts =
      received.length === 0
        ? new Map()
        : await deps.verify({
            manifest: r.manifest,
            start: state.params,
            updates: {
              peers: received.map(([peer]) => peer),
              sketch: (peer) => (r.updates.get(peer) ?? r.samples.get(peer))!.sketch,
              load,
            },
            streaks: new Map(received.map(([peer]) => [peer, state.volunteers[peer]?.streak ?? 0])),
            earlier,
            maxReexecutions: settings.reexecutionsPerRound,
            secondMoment: r.secondMoment,
          });
    if (stopped) return;
    // What failed comes back out of the buckets (once: a retried close finds it out already). A
    // partial stands when every sample behind it passed or was excused for want of time.
    for (const [peer] of r.updates) if (!verdicts.get(peer)?.accepted) r.buckets.remove(peer, await load(peer));
    const partialFailure = (helper: string, p: OpenPartial): string | undefined => {
      if (unchecked.has(helper)) return unchecked.get(helper);
      for (const peer of p.sampled) {
        const v = verdicts.get(peer);
        if (!v?.accepted && !v?.excused) return `${peer}'s update behind it failed: ${v?.reason ?? 'not verified'}`;
      }
      return undefined;
    };
    const partials = [...r.partials].map(([helper, p]) => ({ helper, p, failure: partialFailure(helper, p) }));
    for (const { helper, failure } of partials) if (failure) r.buckets.removeGroup(helper);
    if (stopped) return;
    const direct = [...r.updates].filter(([peer]) => verdicts.get(peer)?.accepted);
    const behind = partials.filter((x) => !x.failure).flatMap(({ p }) => p.contributors);
    /** Credited: a receipt each. */
    const updates: { peer: string; update: string; bytes: number; impact?: UpdateImpact }[] = [
      ...direct.map(([peer, u]) => ({ peer, update: u.hash, bytes: u.bytes, impact: u.impact })),
      ...behind,
    ];
    /** Measured: what the admission bounds and the clipping radius learn from, and what a replay is checked against. */
    const measured = [...direct, ...[...r.samples].filter(([peer]) => verdicts.get(peer)?.accepted)];
    const failed = [
      ...[...r.updates]
        .filter(([peer]) => !verdicts.get(peer)?.accepted)
        .map(([peer]) => ({ peer, reason: verdicts.get(peer)?.reason ?? 'not verified' })),
      ...partials
        .filter((x) => x.failure)
        .flatMap(({ helper, p, failure }) =>
          p.contributors.map(({ peer }) => ({ peer, reason: `helper ${helper}'s partial was not used: ${failure}` })),
        ),
    ];
    const flagged = (flag: 'excused' | 'caught') =>
      new Set(received.filter(([peer]) => verdicts.get(peer)?.[flag]).map(([peer]) => peer));
    const excused = flagged('excused');
    // Behind a partial that failed, only a sample proven bad is held against its sender.
    for (const { p, failure } of partials)
      if (failure)
        for (const { peer } of p.contributors)
          if (!verdicts.get(peer) || verdicts.get(peer)?.excused) excused.add(peer);
    const outcome = {
      delivered: new Set(updates.map(({ peer }) => peer)),
      excused,
      caught: flagged('caught'),
    };
    if (updates.length === 0) {
      // Whoever was assigned and sent nothing verified loses its priority; the round is issued again
      // (not sooner than MIN_REISSUE_MS after the last issue: rejected floods close rounds fast).
      for (const { peer, reason } of failed) reject(peer, r.manifest.round, reason, 'unverified');
      state.volunteers = recordRound(state.volunteers, r.manifest.round, assigned, outcome);
      deps.log(`round ${state.round}: no usable update; issuing it again`);
      const wait = publishedAt + MIN_REISSUE_MS - clock.now();
      if (wait <= 0) return publish();
      cancelRetry = clock.after(wait, () => {
        cancelRetry = undefined;
        if (!stopped && r === open) void publish().catch(() => closeLoggedAgain(r));
      });
      return;
    }
    // The next state is built aside and takes over only once it is checkpointed: a failed write
    // (a full disk) leaves the run as it was, and the close is tried again (verification too).
    const params = state.params.slice();
    const momentum = state.momentum.slice();
    // The next round's second moment: the mean of the v's this round's re-executions reproduced.
    const moments = [...verdicts.values()].flatMap((v) => (v.accepted && v.secondMoment ? [v.secondMoment] : []));
    const secondMoment = moments.length > 0 ? meanSecondMoment(moments) : state.secondMoment;
    const aggregationStarted = performance.now();
    const { vector, next: defense } = await aggregateStreamedRound(
      r.buckets.snapshot().buckets,
      { norms: measured.map(([, u]) => u.norm), distances: measured.map(([, u]) => u.distance) },
      settings.aggregation,
      state.defense,
      { analyticBound: maxNorm, scale: r.manifest.hyper.lr / settings.hyper.lr },
    );
    outerStep(params, momentum, vector, settings.outer);
    // The next weights are the ones the round's delta rebuilds from this round's (round-delta.ts).
    const delta = settings.deltaCodec && encodeRoundDelta(state.params, params, state.residual, settings.deltaCodec);
    if (delta) params.set(delta.next);
    const aggregationSeconds = (performance.now() - aggregationStarted) / 1000;
    if (stopped) return;
    const round = state.round + 1;
    const tokens = state.tokens + updates.reduce((n, { peer }) => n + creditedTokens(r.manifest, peer), 0);
    const valLoss = await deps.evaluate(params);
    const at = clock.now();
    const pendingReceipts = updates.map(({ peer, update, bytes, impact }) =>
      receiptEntry(r.manifest, r.weights.value.model, peer, { update, bytes, at }, impact, deps.gridIntensity),
    );
    const sum = (pick: (e: ReceiptEntry) => number | undefined) =>
      pendingReceipts.reduce((n, e) => n + (pick(e) ?? 0), 0);
    const applied = {
      round,
      params,
      momentum,
      tokens,
      acceptedUpdates: state.acceptedUpdates + updates.length,
      rejectedUpdates: state.rejectedUpdates + failed.length,
      history: [
        ...state.history,
        {
          round,
          tokens,
          valLoss,
          flops: sum((e) => e.flops),
          gpuSeconds: sum((e) => e.gpuSeconds),
          estimatedWh: sum((e) => e.estimatedWh),
        },
      ],
      pendingReceipts,
      volunteers: recordRound(state.volunteers, r.manifest.round, assigned, outcome),
      defense,
      secondMoment,
      ...(delta && settings.deltaCodec
        ? {
            residual: delta.residual,
            delta: { from: r.weights.id, codec: settings.deltaCodec, bytes: delta.bytes },
          }
        : { residual: undefined, delta: undefined }),
    };
    await deps.persist({ ...state, ...applied });
    // Only what the close computed: the counters may have moved meanwhile (late updates refused).
    Object.assign(state, {
      ...applied,
      rejectedUpdates: state.rejectedUpdates + failed.length,
    });
    for (const { peer, reason } of failed) rejections.set(r.manifest.round, peer, reason);
    rejectedByKind.unverified += failed.length;
    aggregation = {
      rounds: aggregation.rounds + 1,
      seconds: aggregation.seconds + aggregationSeconds,
      lastSeconds: aggregationSeconds,
    };
    earlier = new Map(measured.map(([peer, u]) => [peer, u.sketch]));
    const helpers =
      partials.length > 0
        ? ` (${behind.length} behind ${partials.length - partials.filter((x) => x.failure).length} of ${partials.length} helper partials)`
        : '';
    deps.log(
      `round ${round - 1} closed: ${updates.length} of ${r.updates.size + partials.reduce((n, { p }) => n + p.contributors.length, 0)} update(s) verified and aggregated${helpers} (${settings.aggregation}), validation loss ${valLoss.toFixed(4)}, ${tokens} tokens seen`,
    );
    for (const { peer, reason } of failed) deps.log(`round ${round - 1}: ${peer}'s update not credited: ${reason}`);
    if (!stopped) await publish();
  }

  /**
   * A failure while closing (evaluation, checkpoint, receipts, publishing) is logged and tried again
   * CLOSE_RETRY_MS later: the round stays closed to updates meanwhile, and nothing half-done counts.
   */
  async function closeLogged(): Promise<void> {
    const r = open;
    try {
      closing = close();
      await closing;
    } catch (e) {
      deps.log(
        `closing round ${r?.manifest.round ?? state.round} failed: ${(e as Error).message}; trying again in ${CLOSE_RETRY_MS / 1000} s`,
      );
      if (stopped || !r) return;
      cancelRetry = clock.after(CLOSE_RETRY_MS, () => {
        cancelRetry = undefined;
        if (stopped || r !== open) return;
        if (state.round > r.manifest.round) {
          // Checkpointed; its receipts or the next round not yet out.
          void publish().catch(() => void closeLoggedAgain(r));
        } else {
          r.closing = false;
          void closeLogged();
        }
      });
    }
  }

  /** Issuing the receipts or publishing the next round failed again: keep trying on the same cadence. */
  function closeLoggedAgain(r: OpenRound): void {
    deps.log(`publishing round ${state.round} failed; trying again in ${CLOSE_RETRY_MS / 1000} s`);
    cancelRetry = clock.after(CLOSE_RETRY_MS, () => {
      cancelRetry = undefined;
      if (!stopped && r === open) void publish().catch(() => closeLoggedAgain(r));
    });
  }

  /** Counts a rejection, keeps its reason a while for the volunteer to ask; nothing signed or stored. */
  function reject(peer: string, round: number, reason: string, kind: RejectionKind): UpdateOutcome {
    state.rejectedUpdates++;
    rejectedByKind[kind]++;
    deps.log(`rejected an update from ${peer} for round ${round}: ${reason}`);
    rejections.set(round, peer, reason);
    return { type: 'rejected', reason };
  }

  /** Why this update cannot be used, checked before decoding it, and of which kind. */
  function admission(
    peer: string,
    header: UpdateHeader,
    r: OpenRound | undefined,
  ): { reason: string; kind: RejectionKind } | undefined {
    if (!r || header.round < r.manifest.round || (header.round === r.manifest.round && r.closing))
      return { reason: `late: round ${header.round} is closed`, kind: 'late' };
    const reason = assignedUpdateRefusal(peer, header, { manifest: r.manifest, tried: r.tried, maxBytes });
    return reason === undefined ? undefined : { reason, kind: 'refused' };
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

  /** Whether a volunteer joining now can still be assigned into `r` (LATE_JOIN_MIN_LEFT of it left). */
  function lateJoinOpen(r: OpenRound): boolean {
    return r.manifest.deadline - clock.now() >= LATE_JOIN_MIN_LEFT * settings.roundMs;
  }

  /**
   * Issues the open round again soon with the volunteers that joined since in it, at most once per
   * MIN_REISSUE_MS (joins must not make the seed sign again and again). Its weights, deadline and
   * assignments stay: the updates already in keep counting. Newcomers get free shards in the order
   * chooseRoster admits them (slots per address, verified volunteers first).
   */
  function amendSoon(): void {
    if (cancelAmend || !open || open.closing) return;
    const r = open;
    cancelAmend = clock.after(Math.max(0, publishedAt + MIN_REISSUE_MS - clock.now()), () => {
      cancelAmend = undefined;
      if (r !== open || r.closing || stopped || !lateJoinOpen(r)) return;
      void amend(r).catch((e: Error) => deps.log(`amending round ${r.manifest.round} failed: ${e.message}`));
    });
  }

  async function amend(r: OpenRound): Promise<void> {
    const assigned = r.manifest.assignments;
    const taken = new Set(Object.values(assigned));
    const free = Array.from({ length: settings.shardCount }, (_, i) => (i + state.round) % settings.shardCount).filter(
      (shard) => !taken.has(shard),
    );
    const newcomers = chooseRoster({
      candidates: [...joined].filter((p) => deps.isConnected(p)),
      records: state.volunteers,
      addressOf: deps.addressOf,
      slots: settings.shardCount,
      round: state.round,
    }).filter((p) => !(p in assigned) && !r.tried.has(p));
    const added = Object.fromEntries(newcomers.slice(0, free.length).map((peer, i) => [peer, free[i]!]));
    if (Object.keys(added).length === 0) return;
    const manifest: RoundManifest = { ...r.manifest, assignments: { ...assigned, ...added } };
    const signed = await signRoundManifest(deps.key, deps.peerId, manifest);
    if (r !== open || r.closing || stopped) return;
    publishedAt = clock.now();
    r.manifest = manifest;
    signedRound = signed;
    deps.publishRound(signed, manifest);
    deps.log(`round ${manifest.round}: ${Object.keys(added).length} newcomer(s) assigned into the open round`);
  }

  /**
   * Closes the round now if every assigned volunteer has had its try or left (disconnected for
   * LEFT_GRACE_MS); checks again when the grace of one that is away ends.
   */
  function closeIfNoneLeft(r: OpenRound): void {
    if (r !== open || r.closing || stopped || r.taking > 0) return;
    const now = clock.now();
    let recheckAt = Number.POSITIVE_INFINITY;
    const waiting = Object.keys(r.manifest.assignments).filter((p) => {
      if (r.tried.has(p)) return false;
      if (deps.isConnected(p)) {
        goneSince.delete(p);
        return true;
      }
      const since = goneSince.get(p) ?? now;
      goneSince.set(p, since);
      if (now - since >= LEFT_GRACE_MS) return false;
      recheckAt = Math.min(recheckAt, since + LEFT_GRACE_MS);
      return true;
    });
    if (waiting.length === 0) {
      // Who the round stopped waiting for, and since when they were away: the log says why a round
      // closed before everyone assigned had sent.
      const away = Object.keys(r.manifest.assignments).filter((p) => !r.tried.has(p));
      if (away.length > 0)
        deps.log(
          `round ${r.manifest.round}: closing without ${away.map((p) => `${p} (away ${((now - (goneSince.get(p) ?? now)) / 1000).toFixed(1)} s)`).join(', ')}`,
        );
      void closeLogged();
      return;
    }
    if (recheckAt < Number.POSITIVE_INFINITY && !cancelRecheck)
      cancelRecheck = clock.after(recheckAt - now, () => {
        cancelRecheck = undefined;
        closeIfNoneLeft(r);
      });
  }

  /** Runs `work`, the taking in of an arrived update or partial of `r`; the round closes on "everyone tried" only once none is in work. */
  async function whileTaking(r: OpenRound, work: () => Promise<UpdateOutcome>): Promise<UpdateOutcome> {
    r.taking++;
    try {
      return await work();
    } finally {
      r.taking--;
      closeIfNoneLeft(r);
    }
  }

  /** Takes in an admitted partial of round `r` (its contributors marked tried): checks its body and keeps it as a bucket. */
  async function takePartial(
    r: OpenRound,
    helper: string,
    partial: PartialHeader,
    body: Uint8Array,
  ): Promise<UpdateOutcome> {
    const { terms } = partial;
    if ((await sha256Hex(body)) !== terms.body)
      return reject(helper, terms.round, 'partial: its body is not the one it signed', 'malformed');
    // A mean of admitted updates is within the bound too; it may well be under the floor (noise averages out).
    const decoded = decodeValidUpdate(body, FP32, terms.weights, {
      round: r.manifest.round,
      manifest: r.weights.id,
      length: state.params.length,
      minNorm: 0,
      maxNorm: r.bounds.bound,
    });
    if (!('vector' in decoded)) return reject(helper, terms.round, `partial: ${decoded.reason}`, decoded.kind);
    const mean = decoded.vector;
    if (r !== open || r.closing) return reject(helper, terms.round, `late: round ${terms.round} is closed`, 'late');
    r.buckets.addGroup(
      helper,
      terms.contributors.map((c) => c.peer),
      mean,
    );
    r.partials.set(helper, { contributors: terms.contributors, sampled: [] });
    deps.log(`round ${terms.round}: a partial of ${terms.contributors.length} update(s) from helper ${helper}`);
    return { type: 'received', update: terms.body };
  }

  /** Decodes and validates an admitted update, keeps it if good; says whether it was received. */
  async function take(r: OpenRound, peer: string, header: UpdateHeader, body: Uint8Array): Promise<UpdateOutcome> {
    const late = () => r !== open || r.closing;
    const checked = await check(r, peer, header.weights, body, late);
    if ('kind' in checked) return reject(peer, header.round, checked.reason, checked.kind);
    r.buckets.add(peer, checked.vector);
    // Busy time is believed up to the time since the round was issued (its deadline less its length).
    const elapsed = clock.now() - (r.manifest.deadline - settings.roundMs);
    r.updates.set(peer, { ...checked.taken, impact: updateImpact(header, elapsed) });
    return { type: 'received', update: checked.taken.hash };
  }

  /**
   * Decodes and validates an update of round `r` (`weights`: the manifest it says it started from),
   * keeps its bytes in the spool and measures it; or why not. `late` says whether the round can no
   * longer take it (checked again after each wait).
   */
  async function check(
    r: OpenRound,
    peer: string,
    weights: string,
    body: Uint8Array,
    late: () => boolean,
  ): Promise<{ vector: Float32Array; taken: TakenUpdate } | { reason: string; kind: RejectionKind }> {
    const decoded = decodeValidUpdate(body, r.manifest.codec, weights, {
      round: r.manifest.round,
      manifest: r.weights.id,
      length: state.params.length,
      minNorm: r.bounds.floor,
      maxNorm: r.bounds.bound,
    });
    if (!('vector' in decoded)) return decoded;
    const { vector } = decoded;
    const hash = await sha256Hex(body);
    const closed = { reason: `late: round ${r.manifest.round} is closed`, kind: 'late' } as const;
    // The round may have closed while this one was decoding or being stored.
    if (late()) return closed;
    try {
      await spool.put(r.batch, peer, body);
    } catch (e) {
      deps.log(`could not keep ${peer}'s update for round ${r.manifest.round}: ${(e as Error).message}`);
      return { reason: 'the seed could not store it', kind: 'refused' };
    }
    if (late()) return closed;
    const taken = {
      hash,
      bytes: body.length,
      norm: l2Norm(vector),
      distance: distance(vector, state.defense.reference),
      sketch: sketch(vector),
    };
    return { vector, taken };
  }

  /**
   * At the close, PARTIAL_SAMPLES updates behind each partial, drawn secretly, fetched from their
   * helper and checked like direct ones (they then go through verification with them); returns why a
   * partial could not be checked (its helper gone, an update other than the one it listed, …).
   */
  async function fetchSamples(r: OpenRound): Promise<Map<string, string>> {
    const unchecked = new Map<string, string>();
    for (const [helper, p] of r.partials) {
      if (p.unchecked) unchecked.set(helper, p.unchecked);
      if (p.sampled.length > 0 || p.unchecked) continue; // fetched already (a retried close)
      const pool = [...p.contributors];
      for (let k = 0; k < Math.min(PARTIAL_SAMPLES, pool.length); k++) {
        const j = k + Math.floor(secretRandom() * (pool.length - k));
        [pool[k], pool[j]] = [pool[j]!, pool[k]!];
        p.sampled.push(pool[k]!.peer);
      }
      for (const c of pool.slice(0, p.sampled.length)) {
        try {
          if (!deps.fetchSample) throw new Error('this seed takes no partials');
          const body = await deps.fetchSample(helper, r.manifest.round, c.peer);
          if ((await sha256Hex(body)) !== c.update) throw new Error(`${c.peer}'s update is not the one it listed`);
          const checked = await check(r, c.peer, r.weights.id, body, () => stopped);
          if ('kind' in checked) throw new Error(`${c.peer}'s update: ${checked.reason}`);
          r.samples.set(c.peer, checked.taken);
        } catch (e) {
          p.unchecked = `could not be checked: ${(e as Error).message}`;
          unchecked.set(helper, p.unchecked);
          break;
        }
      }
    }
    return unchecked;
  }

  /** Why a helper's partial cannot be used in the open round `r`, from its terms. */
  function partialRefusal(helper: string, partial: PartialHeader, r: OpenRound | undefined): string | undefined {
    const { terms } = partial;
    if (!r || terms.round < r.manifest.round || (terms.round === r.manifest.round && r.closing))
      return `late: round ${terms.round} is closed`;
    if (terms.round > r.manifest.round) return `round ${terms.round} has not started`;
    if (terms.weights !== r.weights.id) return "trained from other weights than the round's";
    if (r.partials.has(helper)) return 'duplicate: this round already has a partial from this helper';
    for (const { peer, bytes } of terms.contributors) {
      if (!(peer in r.manifest.assignments)) return `${peer} is not assigned in this round`;
      if (r.tried.has(peer)) return `${peer} already has an update in this round`;
      if (bytes > maxBytes) return `${peer}'s update is ${bytes} bytes, more than the round's codec makes`;
    }
    if (partial.bytes !== partialBytes) return `a partial is ${partialBytes} bytes (fp32), not ${partial.bytes}`;
    return undefined;
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
      // Enough of the round left: amend it soon with this volunteer in it.
      if (open && !open.closing && !(peer in open.manifest.assignments) && lateJoinOpen(open)) {
        amendSoon();
        return state.round;
      }
      return state.round + 1;
    },
    onLeave(peer) {
      joined.delete(peer);
      if (open && peer in open.manifest.assignments && !open.tried.has(peer)) {
        open.tried.add(peer); // its try is over: an update it sends later is refused
        closeIfNoneLeft(open);
      }
    },
    admit(peer, header) {
      // Refused from its header (its body never read): counted by kind, not kept.
      const refused = admission(peer, header, open);
      if (refused) rejectedByKind[refused.kind]++;
      return refused?.reason;
    },
    async onUpdate(peer, header, body) {
      const r = open;
      // Admitted before its body was read; the round may have moved on since.
      const refused = admission(peer, header, r);
      if (refused || !r)
        return reject(peer, header.round, refused?.reason ?? 'no round is open', refused?.kind ?? 'late');
      r.tried.add(peer);
      return whileTaking(r, () => take(r, peer, header, body));
    },
    admitPartial(helper, partial) {
      const refused = partialRefusal(helper, partial, open);
      if (refused) rejectedByKind.refused++;
      return refused;
    },
    async onPartial(helper, partial, body) {
      const r = open;
      const { terms } = partial;
      const refused = partialRefusal(helper, partial, r) ?? (r ? undefined : 'no round is open');
      if (refused || !r) return reject(helper, terms.round, refused!, 'refused');
      for (const { peer } of terms.contributors) r.tried.add(peer);
      return whileTaking(r, () => takePartial(r, helper, partial, body));
    },
    onLeft() {
      // A round that assigned nobody waits for joins, not for leaves.
      if (open && Object.keys(open.manifest.assignments).length > 0) closeIfNoneLeft(open);
    },
    receipts(peer, since) {
      const rejected = rejections.since(peer, since).map(({ round, value }) => ({ round, reason: value }));
      return { type: 'receipts', receipts: deps.recentReceipts(peer, since), rejected, closedThrough: issuedThrough };
    },
    status() {
      return {
        round: state.round,
        volunteers: [...joined].filter(deps.isConnected).length,
        acceptedUpdates: state.acceptedUpdates,
        rejectedUpdates: state.rejectedUpdates,
        rejectedByKind: { ...rejectedByKind },
        aggregation: { ...aggregation },
        tokens: state.tokens,
        history: state.history,
        open: {
          round: state.round,
          deadline: open?.manifest.deadline ?? 0,
          assigned: Object.keys(open?.manifest.assignments ?? {}).length,
          received:
            (open?.updates.size ?? 0) +
            [...(open?.partials.values() ?? [])].reduce((n, p) => n + p.contributors.length, 0),
        },
      };
    },
    currentRound: () => signedRound,
    state: () => state,
    async stop() {
      stopped = true;
      open?.cancelDeadline();
      cancelReissue?.();
      cancelAmend?.();
      cancelRetry?.();
      cancelRecheck?.();
      await closing?.catch(() => {});
      if (open) dropBatch(open.batch);
    },
  };
}

/** What a volunteer's update header says of its impact, bounded: its busy time by the round's elapsed time. */
export interface UpdateImpact {
  gpuSeconds?: number;
  adapter?: AdapterClass;
  region?: string;
}

function updateImpact(header: UpdateHeader, elapsedMs: number): UpdateImpact | undefined {
  if (header.gpuMs === undefined && header.adapter === undefined) return undefined;
  return {
    gpuSeconds: header.gpuMs === undefined ? undefined : Math.min(header.gpuMs, Math.max(0, elapsedMs)) / 1000,
    adapter: header.adapter,
    region: header.region,
  };
}

/**
 * A credited update's receipt: its tokens and FLOPs from the round's assignment (never a claim), and
 * the impact figures its volunteer's header gave, with the energy estimate and, where the run has a
 * grid schedule for the region, the grams of CO₂ at the receipt's hour.
 */
export function receiptEntry(
  manifest: RoundManifest,
  model: GptConfig,
  peer: string,
  body: { update: string; bytes: number; at: number },
  impact: UpdateImpact | undefined,
  gridIntensity?: (region: string, at: number) => number | undefined,
): ReceiptEntry {
  const tokens = creditedTokens(manifest, peer);
  const entry: ReceiptEntry = {
    round: manifest.round,
    peer,
    tokens,
    flops: trainingFlops(model, manifest.hyper.context, tokens),
    ...body,
  };
  if (impact?.gpuSeconds === undefined) return entry;
  const adapter = impact.adapter ?? 'unknown';
  const { wh } = estimateEnergy(impact.gpuSeconds, adapter);
  const intensity = impact.region === undefined ? undefined : gridIntensity?.(impact.region, body.at);
  return {
    ...entry,
    gpuSeconds: impact.gpuSeconds,
    adapter,
    estimatedWh: wh,
    ...(intensity === undefined ? {} : { gCO2: gramsCO2(wh, intensity) }),
  };
}
