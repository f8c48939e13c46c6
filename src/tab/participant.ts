// The volunteer's side of federated training: join the run, wait for a round that assigns us a
// shard, fetch its weights (peer-assisted: only the round's delta when it holds the last round's
// weights, fed/round-delta.ts), the data and the second moment it names, train H local steps in the
// trainer (which encodes the update with error feedback), send it to the seed, and once the round
// closed fetch and keep the signed receipt. It keeps
// going when the seed restarts (it dials again and re-joins) or peers leave, and it skips a round
// whose deadline passed while it was training. It trusts the seed only so far: a round past the
// tab's bounds is refused (round-check.ts), and a seed that serves corrupted weights is left alone
// for SEED_CORRUPT_RETRY_MS; both are told to the page. Outside the volunteer's hours, or while their
// grid is not below their threshold (Availability), it leaves the run and joins again when allowed.
import { fromU16Bytes } from '../data';
import {
  type AdapterClass,
  applyRoundDelta,
  assignmentRequest,
  MAX_UPDATE_REQUESTS_PER_MINUTE,
  type Receipt,
  type ReceiptsReply,
  ROUND_TOPIC,
  type RoundManifest,
  requestJoin,
  requestLeave,
  requestReceipts,
  sendUpdate,
  UPDATE_PROTOCOL,
  type UpdateOutcome,
  UpdateRefusedError,
  verifyDeltaManifest,
  verifyMomentManifest,
  verifyReceipt,
  verifyRoundManifest,
} from '../fed';
import type { ProgressStore } from '../storage';
import {
  type Download,
  fromUtf8,
  MAX_SEED_JSON_BYTES,
  ManifestRetiredError,
  type PieceStore,
  runSigner,
  SeedServesCorruptPiecesError,
  type SignedDocument,
  type SwarmClient,
  sha256Hex,
} from '../swarm';
import type { Trainer } from '../trainer';
import { backoff } from '../util/backoff';
import { requestPacer } from '../util/budget';
import { sleep, systemClock } from '../util/clock';
import { fetchAtMost, fetchJsonAtMost, OverBoundError } from '../util/read-at-most';
import { MAX_TOKEN_FILE_BYTES, SEED_CORRUPT_RETRY_MS } from './limits';
import { admitRound, RoundRefusedError } from './round-check';

/** Where the participant keeps what must survive a reload: token files, receipts. */
export interface ParticipantStorage extends ProgressStore {
  pieces: PieceStore;
}

export type ParticipantEvent =
  | { type: 'joining' }
  | { type: 'joined'; round: number }
  | { type: 'waiting'; round?: number }
  | { type: 'fetching'; round: number }
  /** The round's weights were rebuilt from the last round's and its delta of `bytes` bytes. */
  | { type: 'delta'; round: number; bytes: number }
  /** The round's delta could not be used (`reason`); the whole weights are downloaded instead. */
  | { type: 'delta-refused'; round: number; reason: string }
  /** The round names AdamW's second moment (`bytes` of codes): its training starts from it. */
  | { type: 'second-moment'; round: number; bytes: number }
  /** A local step finished; `gpuMs` is the GPU time it took. */
  | { type: 'step'; round: number; step: number; steps: number; loss: number; gpuMs: number }
  /** The trainer holds before its next step: the volunteer paused. Nothing is in flight. */
  | { type: 'holding'; round: number }
  /** The tab left the run for now (`reason`: the volunteer's hours, the grid); it joins again when allowed. */
  | { type: 'away'; reason: string }
  | { type: 'trained'; round: number; tokens: number; busyMs: number; idleMs: number; flops: number }
  /** The update goes to the seed; its header says the GPU was busy `gpuMs` in the round. */
  | { type: 'sending'; round: number; bytes: number; denseBytes: number; gpuMs: number }
  /** The seed took the update in; its receipt comes once the round is closed and checkpointed. */
  | { type: 'sent'; round: number }
  | { type: 'receipt'; receipt: Receipt; signed: SignedDocument }
  /** The seed closed the round without crediting our update (`reason`: why, when it still knew). */
  | { type: 'not-credited'; round: number; reason: string }
  | { type: 'skipped'; round: number; reason: string }
  /** The seed refused the update for now (`reason`: busy); the tab sends it again in `retryInMs`. */
  | { type: 'send-later'; round: number; reason: string; retryInMs: number }
  /** The tab will not train this round: a setting is past its bounds (`reason` names it). */
  | { type: 'round-refused'; round: number; reason: string }
  /** The seed served corrupted pieces of the weights; the tab tries again in `retryInMs`, if given. */
  | { type: 'seed-corrupt'; corruptPieces: number; retryInMs?: number }
  | { type: 'error'; message: string; retryInMs: number };

export interface ParticipantOptions {
  client: SwarmClient;
  /** The seed's HTTP base URL: /round.json and /data/…. */
  seedUrl: string;
  trainer: Trainer;
  storage: ParticipantStorage;
  onEvent(e: ParticipantEvent): void;
  signal: AbortSignal;
  /** When the volunteer lets the tab take work (pacing.ts); absent: always. */
  availability?: Availability;
  /** What the update header tells the seed for the receipt's impact figures (fed/impact.ts); absent: nothing. */
  impact?(): { adapter: AdapterClass; region?: string };
}

/** Whether the volunteer lets the tab take work now: their hours, their grid threshold (hold.ts). */
export interface Availability {
  /** Why the tab stays out of the run now; undefined while it may take work. */
  readonly awayBecause: string | undefined;
  /** Resolves once the tab is away (`away` true) or may work again (false), or on abort. */
  until(away: boolean, signal: AbortSignal): Promise<void>;
}

/** How often the page asks /round.json for the open round (gossip usually tells it sooner). */
const ROUND_POLL_MS = 2_000;
/** How often a training tab checks whether a newer round made its own pointless. */
const SUPERSEDED_CHECK_MS = 500;
/** Backoff after a failed iteration. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;
/** Progress record of every receipt the seed signed for this tab. */
export const RECEIPTS_KEY = 'fed:receipts';
/** Progress record of the rounds whose update the seed took in and whose receipt we have not got. */
export const AWAITING_KEY = 'fed:awaiting-receipts';

type SignedRound = Awaited<ReturnType<typeof verifyRoundManifest>>;

/**
 * The newest round manifest the seed signed, from gossip and from polling /round.json. A round is
 * identified by its manifest, not its number: a seed restarted from a checkpoint issues a round
 * again, and that one must be trained again; a seed that assigns newcomers into the open round
 * amends its manifest, which matters only to the newcomers.
 */
function roundWatch(opts: ParticipantOptions) {
  const { client, signal } = opts;
  const self = client.peerId;
  let latest: SignedRound | undefined;
  let wake: (() => void) | undefined;
  const offer = async (doc: unknown) => {
    try {
      const m = await verifyRoundManifest(doc, runSigner(client.seed));
      const sameRound = latest && m.value.round === latest.value.round && m.id !== latest.id;
      const newer =
        !latest ||
        m.value.round > latest.value.round ||
        // Issued again (a restarted seed), or amended to assign us into the open round.
        (sameRound && m.value.deadline > latest.value.deadline) ||
        (sameRound && !(self in latest.value.assignments) && self in m.value.assignments);
      if (newer) {
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
  return {
    first: () => fetchJson(opts.seedUrl, '/round.json').then(offer, () => {}),
    get latest() {
      return latest;
    },
    /** Resolves when a round other than `seen` is known, or on abort. */
    async next(seen: string | undefined): Promise<SignedRound | undefined> {
      while (!signal.aborted && (!latest || latest.id === seen)) await new Promise<void>((r) => (wake = r));
      return latest;
    },
  };
}

/**
 * The round's weights: rebuilt from the last round's with the round's delta when this volunteer
 * holds those, else downloaded whole. A delta that cannot be used (signed by another key, not
 * fetched, not decodable, or rebuilding weights other than the signed ones) is told, and the whole
 * weights are downloaded instead.
 */
async function roundWeights(opts: ParticipantOptions, m: RoundManifest): Promise<Download> {
  const { client, signal } = opts;
  if (m.delta) {
    try {
      const delta = await verifyDeltaManifest(m.delta, runSigner(client.seed));
      if (delta.value.to !== m.weightsId) throw new Error("the delta rebuilds other weights than the round's");
      const from = await client.held(delta.value.from);
      if (from) {
        const bytes = await client.fetchBytes(delta, signal);
        const rebuilt = await client.adopt(m.weights, applyRoundDelta(from, bytes, delta.value.codec));
        opts.onEvent({ type: 'delta', round: m.round, bytes: bytes.length });
        return rebuilt;
      }
    } catch (e) {
      if (signal.aborted) throw e;
      opts.onEvent({ type: 'delta-refused', round: m.round, reason: (e as Error).message });
    }
  }
  return client.download(m.weights, undefined, signal);
}

/**
 * The second moment the round names (fed/second-moment.ts), fetched like the weights and checked
 * against the run's signer and the model's size; undefined when it names none. A round that names
 * one is trained from it (its re-execution will be), so one that cannot be had fails the round.
 */
async function roundSecondMoment(
  opts: ParticipantOptions,
  m: RoundManifest,
  parameters: number,
): Promise<Uint8Array | undefined> {
  if (!m.secondMoment) return undefined;
  const moment = await verifyMomentManifest(m.secondMoment, runSigner(opts.client.seed));
  if (moment.value.parameters !== parameters)
    throw new Error(
      `the round's second moment is for ${moment.value.parameters} parameters, the model has ${parameters}`,
    );
  return opts.client.fetchBytes(moment, opts.signal);
}

/** A stream of the update protocol to the seed, opened once the seed's request budget has room for it. */
type UpdateStream = () => ReturnType<SwarmClient['seedStream']>;

export async function runParticipant(opts: ParticipantOptions): Promise<void> {
  const { client, trainer, storage, signal } = opts;
  const self = client.peerId;
  const rounds = roundWatch(opts);
  await rounds.first();

  let joinedFor = -1; // the seed said we are assigned from this round on
  let seen: string | undefined; // the last round manifest we looked at
  let shape = '';
  let dataId = '';
  const retry = backoff(RETRY_FIRST_MS, RETRY_MAX_MS);
  // Fast rounds (a small model, fast volunteers) would otherwise spend the seed's request budget and
  // have an update refused, which leaves the round waiting for us until its deadline.
  const pace = requestPacer(MAX_UPDATE_REQUESTS_PER_MINUTE, 60_000, systemClock);
  const updateStream: UpdateStream = async () => {
    await pace(signal);
    return client.seedStream(UPDATE_PROTOCOL, signal);
  };
  while (!signal.aborted) {
    try {
      if (await stayAway(opts, updateStream)) joinedFor = -1;
      if (joinedFor < 0) {
        opts.onEvent({ type: 'joining' });
        joinedFor = await requestJoin(await updateStream(), { signal });
        opts.onEvent({ type: 'joined', round: joinedFor });
      }
      const round = await nextRoundUnlessAway(opts, rounds.next(seen));
      if (opts.availability?.awayBecause !== undefined) continue; // the loop's top leaves the run
      if (!round || signal.aborted) break;
      seen = round.id;
      const m = round.value;
      await collectReceipts(opts, m.round, updateStream);
      const shard = m.assignments[self];
      if (shard === undefined) {
        // Not in this round. If the seed restarted it forgot us: join again.
        if (m.round >= joinedFor) joinedFor = -1;
        opts.onEvent({ type: 'waiting', round: m.round });
        continue;
      }
      await admitRound(m, runSigner(client.seed), Date.now());
      opts.onEvent({ type: 'fetching', round: m.round });
      let fetched: Download;
      let secondMoment: Uint8Array | undefined;
      try {
        fetched = await roundWeights(opts, m);
        secondMoment = await roundSecondMoment(opts, m, fetched.weights.length);
      } catch (e) {
        // The round closed while we fetched its weights or moment: the seed retired them. Wait for the next.
        if (!(e instanceof ManifestRetiredError)) throw e;
        opts.onEvent({ type: 'skipped', round: m.round, reason: e.message });
        continue;
      }
      const { weights, manifest } = fetched;
      const h = m.hyper;
      const nextShape = JSON.stringify([manifest.value.model, h.batchSize, h.context]);
      if (nextShape !== shape) {
        await trainer.init({ config: manifest.value.model, batchSize: h.batchSize, context: h.context });
        shape = nextShape;
        dataId = '';
      }
      if (dataId !== m.data.train + m.data.validation) {
        const [train, validation] = await Promise.all([
          tokenFile(opts.seedUrl, '/data/train.u16', m.data.train, storage.pieces, m.round),
          tokenFile(opts.seedUrl, '/data/validation.u16', m.data.validation, storage.pieces, m.round),
        ]);
        await trainer.loadData(train, validation);
        dataId = m.data.train + m.data.validation;
      }
      await trainer.loadParams(weights);
      if (secondMoment) opts.onEvent({ type: 'second-moment', round: m.round, bytes: secondMoment.length });
      const result = await trainRound(
        opts,
        m,
        shard,
        secondMoment,
        // Away, the round is over for us: the loop's top leaves the run, and the seed then refuses its update.
        () => (rounds.latest?.value.round ?? -1) > m.round || opts.availability?.awayBecause !== undefined,
      );
      const { tokens, busyMs, idleMs, flops } = result;
      opts.onEvent({ type: 'trained', round: m.round, tokens, busyMs, idleMs, flops });
      if (result.cancelled || Date.now() > m.deadline) {
        const reason = result.cancelled
          ? (opts.availability?.awayBecause ?? 'a newer round started')
          : 'the deadline passed while training';
        opts.onEvent({ type: 'skipped', round: m.round, reason });
        continue;
      }
      const gpuMs = Math.round(result.busyMs);
      opts.onEvent({
        type: 'sending',
        round: m.round,
        bytes: result.update.length,
        denseBytes: result.denseBytes,
        gpuMs,
      });
      const header = {
        type: 'update' as const,
        round: m.round,
        weights: manifest.id,
        tokens: result.tokens,
        steps: result.losses.length,
        lossFirst: result.losses[0] ?? Number.NaN,
        lossLast: result.losses.at(-1) ?? Number.NaN,
        ...(opts.impact && { gpuMs, ...opts.impact() }),
      };
      let outcome: UpdateOutcome | undefined;
      while (!outcome && !signal.aborted) {
        try {
          outcome = await sendUpdate(await updateStream(), header, result.update, { signal });
        } catch (e) {
          // Refused from its header: nothing was received, nothing is wrong. A refusal that passes (the
          // seed busy with other bodies) is tried again while the round's deadline allows; the round
          // waits for our update, so giving up would only leave it waiting.
          if (!(e instanceof UpdateRefusedError)) throw e;
          const wait = resendDelay(e, Date.now(), m.deadline);
          if (wait === undefined) {
            opts.onEvent({ type: 'skipped', round: m.round, reason: e.message });
            break;
          }
          opts.onEvent({ type: 'send-later', round: m.round, reason: e.reason, retryInMs: wait });
          await sleep(systemClock, wait, signal).done;
        }
      }
      if (!outcome) continue;
      if (outcome.type === 'rejected') {
        opts.onEvent({ type: 'not-credited', round: m.round, reason: outcome.reason });
        continue;
      }
      // Error feedback carries over only what the seed took in.
      await trainer.updateAccepted();
      const awaiting = (await storage.getProgress<number[]>(AWAITING_KEY)) ?? [];
      await storage.setProgress(AWAITING_KEY, [...awaiting, m.round]);
      opts.onEvent({ type: 'sent', round: m.round });
      retry.reset();
    } catch (e) {
      if (signal.aborted) break;
      if (e instanceof RoundRefusedError) {
        // Not trained; the next round may be within bounds (`seen` keeps this one from coming back).
        opts.onEvent({ type: 'round-refused', round: e.round, reason: e.reason });
        continue;
      }
      let delay: number;
      if (e instanceof SeedServesCorruptPiecesError) {
        delay = SEED_CORRUPT_RETRY_MS;
        opts.onEvent({ type: 'seed-corrupt', corruptPieces: e.corruptPieces, retryInMs: delay });
      } else {
        delay = retry.next();
        opts.onEvent({ type: 'error', message: (e as Error).message, retryInMs: delay });
      }
      await sleep(systemClock, delay, signal).done;
      joinedFor = -1;
      seen = undefined;
    }
  }
}

/**
 * How long to wait before sending a refused update again: the wait the refusal asked for, when it
 * passes and the round's deadline is still ahead after it; undefined to give the round up.
 */
export function resendDelay(e: UpdateRefusedError, now: number, deadline: number): number | undefined {
  return e.retryInMs !== undefined && now + e.retryInMs < deadline ? e.retryInMs : undefined;
}

/**
 * Keeps the tab out of the run while the volunteer's hours or grid say so: tells the seed it leaves
 * (it is assigned nothing, and the open round stops waiting for it), then waits until work is allowed
 * again. Returns whether it left: the caller then joins again.
 */
async function stayAway(opts: ParticipantOptions, updateStream: UpdateStream): Promise<boolean> {
  const { availability, signal } = opts;
  const reason = availability?.awayBecause;
  if (!availability || reason === undefined) return false;
  opts.onEvent({ type: 'away', reason });
  await requestLeave(await updateStream(), { signal });
  await availability.until(false, signal);
  return true;
}

/** The next round, or undefined as soon as the tab must stay away (it leaves at once, not at the next round). */
async function nextRoundUnlessAway(
  opts: ParticipantOptions,
  next: Promise<SignedRound | undefined>,
): Promise<SignedRound | undefined> {
  if (!opts.availability) return next;
  const done = new AbortController();
  try {
    return await Promise.race([next, opts.availability.until(true, done.signal).then(() => undefined)]);
  } finally {
    done.abort();
  }
}

/**
 * Fetches the receipts of the rounds whose update the seed took in, once they closed (before
 * `current`): each is checked (signed by the seed, for us, for a round we sent) and kept; a round the
 * seed closed without a receipt for us was not credited. A failure leaves them for the next round.
 */
async function collectReceipts(opts: ParticipantOptions, current: number, updateStream: UpdateStream): Promise<void> {
  const { client, storage, signal } = opts;
  const awaiting = (await storage.getProgress<number[]>(AWAITING_KEY)) ?? [];
  const closed = awaiting.filter((r) => r < current);
  if (closed.length === 0) return;
  let reply: ReceiptsReply;
  try {
    reply = await requestReceipts(await updateStream(), Math.min(...closed), { signal });
  } catch (e) {
    if (!signal.aborted) client.onWarning?.(`could not fetch receipts: ${(e as Error).message}`);
    return;
  }
  const settled = new Set<number>();
  for (const signed of reply.receipts) {
    const receipt = await verifyReceipt(signed, runSigner(client.seed)).catch(() => undefined);
    const r = receipt?.value;
    if (!r || r.peer !== client.peerId || !closed.includes(r.round) || settled.has(r.round)) continue;
    settled.add(r.round);
    const receipts = (await storage.getProgress<SignedDocument[]>(RECEIPTS_KEY)) ?? [];
    await storage.setProgress(RECEIPTS_KEY, [...receipts, signed]);
    opts.onEvent({ type: 'receipt', receipt: r, signed });
  }
  for (const round of closed) {
    if (settled.has(round) || round > reply.closedThrough) continue;
    settled.add(round);
    const reason = reply.rejected.find((x) => x.round === round)?.reason ?? 'the seed closed the round without it';
    opts.onEvent({ type: 'not-credited', round, reason });
  }
  await storage.setProgress(
    AWAITING_KEY,
    awaiting.filter((r) => !settled.has(r)),
  );
}

/** Trains the round's local steps; gives up (cancels) if a newer round appears meanwhile: we missed its deadline. */
async function trainRound(
  opts: ParticipantOptions,
  m: RoundManifest,
  shard: number,
  secondMoment: Uint8Array | undefined,
  superseded: () => boolean,
) {
  const { trainer } = opts;
  const check = setInterval(() => superseded() && void trainer.cancel(), SUPERSEDED_CHECK_MS);
  let lastBusyMs = 0;
  try {
    return await trainer.train(assignmentRequest(m, shard, m.codec, secondMoment), (p) => {
      if (p.holding) {
        opts.onEvent({ type: 'holding', round: m.round });
        return;
      }
      opts.onEvent({
        type: 'step',
        round: m.round,
        step: p.step,
        steps: p.steps,
        loss: p.loss ?? Number.NaN,
        gpuMs: p.busyMs - lastBusyMs,
      });
      lastBusyMs = p.busyMs;
    });
  } finally {
    clearInterval(check);
  }
}

async function fetchJson(base: string, path: string): Promise<unknown> {
  return fetchJsonAtMost(new URL(path, base), MAX_SEED_JSON_BYTES);
}

/**
 * A token file of `round`, from the store when it has it, else from the seed; checked against its
 * sha256. One over MAX_TOKEN_FILE_BYTES refuses the round (RoundRefusedError) and is not read on.
 */
export async function tokenFile(
  base: string,
  path: string,
  sha256: string,
  store: PieceStore,
  round: number,
): Promise<Uint32Array> {
  let bytes = await store.get(sha256);
  if (!bytes) {
    bytes = await fetchAtMost(new URL(path, base), MAX_TOKEN_FILE_BYTES).catch((e: unknown) => {
      if (!(e instanceof OverBoundError)) throw e;
      throw new RoundRefusedError(round, `${path} is over the bound of ${MAX_TOKEN_FILE_BYTES} bytes`);
    });
    if ((await sha256Hex(bytes)) !== sha256) throw new Error(`${path} does not match the round manifest's sha256`);
    await store.put(sha256, bytes);
  }
  return fromU16Bytes(bytes);
}
