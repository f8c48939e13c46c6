// The seed's round coordinator with fake dependencies (no network): a real Ed25519 key, real signed
// weights manifests of a tiny model, a connected set the test controls, a fake validation loss, and
// a manual clock: deadlines come only when a test moves time, so every wait is for a state.
// Rounds open and close, updates are aggregated with hand-checkable settings (mean, lr 1, no
// momentum), every reason to refuse an update comes back unsigned, and the receipts of a round are
// issued into a real in-memory ledger only once its checkpoint is written. Verification is a fake
// that accepts every update unless a test names its verdicts (its real checks: fed-verify.spec.ts).
import '../../src/seed/promise-shim';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import { decodeUpdate, encodedSize, encodeUpdate } from '../../src/fed/codec';
import {
  CLOSE_RETRY_MS,
  type Coordinator,
  type CoordinatorState,
  createCoordinator,
  type FedSettings,
  freshCoordinatorState,
  LATE_JOIN_MIN_LEFT,
  LEFT_GRACE_MS,
  MIN_REISSUE_MS,
  maxUpdateNorm,
  type PublishedDelta,
  type VerifyJob,
} from '../../src/fed/coordinator';
import {
  type CodecSettings,
  GENESIS_HASH,
  type Receipt,
  type RoundManifest,
  verifyReceipt,
  verifyRoundManifest,
} from '../../src/fed/documents';
import { trainingFlops } from '../../src/fed/impact';
import type { UpdateHeader, UpdateOutcome } from '../../src/fed/protocol';
import { SUSPENSION_ROUNDS } from '../../src/fed/roster';
import { applyRoundDelta } from '../../src/fed/round-delta';
import { secondMomentLength } from '../../src/fed/second-moment';
import { SKETCH_SIZE } from '../../src/fed/sketch';
import { memorySpool, type UpdateSpool } from '../../src/fed/spool';
import { type GptConfig, initParams, paramLayout } from '../../src/model';
import { type Ledger, memoryLedger } from '../../src/seed/ledger';
import { sha256Hex } from '../../src/swarm/bytes';
import { buildManifest, signManifest, type VerifiedManifest, verifyManifest } from '../../src/swarm/manifest';
import type { SignedDocument } from '../../src/swarm/signed';
import { randomUniform } from '../../src/util/random';
import { type ManualClock, manualClock } from '../harness/manual-clock';

const CFG: GptConfig = { vocab: 64, context: 16, layers: 1, heads: 2, width: 16 };
const LAYOUT = paramLayout(CFG);
/** 4992 floats: 19 full int8 blocks of 256 and a short last one. */
const P = LAYOUT.total;
const DATA = { train: '1a'.repeat(32), validation: '2b'.repeat(32) };
const HYPER = { steps: 2, batchSize: 2, context: 8, lr: 3e-3, weightDecay: 0.1, dataSeed: 1 };
/** The most tokens an update may claim: steps·batchSize·context. */
const MAX_TOKENS = HYPER.steps * HYPER.batchSize * HYPER.context;
/** A round's time; its deadline comes only when a test moves the clock there. */
const LONG_ROUND_MS = 20_000;
const SETTINGS: FedSettings = {
  hyper: HYPER,
  shardCount: 8,
  roundMs: LONG_ROUND_MS,
  codec: { format: 'int8', blockSize: 256, density: 1 },
  aggregation: 'mean',
  outer: { lr: 1, momentum: 0, nesterov: false },
  reexecutionsPerRound: 4,
  buckets: 64,
};
/** Honest updates are uniform in [-AMP, AMP): norm ≈ 0.41, well under maxNorm ≈ 1.70. */
const AMP = 0.01;
/**
 * int8 error: each element is off by at most half its block's scale, maxAbs/127/2 ≤ AMP/254 (so is
 * their mean); plus float32 rounding of a parameter of magnitude ≤ ~1 (6e-8), covered by 1e-6.
 */
const INT8_TOL = AMP / 254 + 1e-6;

let seedKey: PrivateKey;
let seed: PeerId;
let A: string;
let B: string;
let C: string;
/** Six more volunteers, one per bad body below (each peer has one try per round). */
let crowd: string[];

test.beforeAll(async () => {
  seedKey = await generateKeyPair('Ed25519');
  seed = peerIdFromPrivateKey(seedKey);
  const peer = async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
  [A, B, C] = await Promise.all([peer(), peer(), peer()]);
  crowd = await Promise.all(Array.from({ length: 6 }, peer));
});

interface Published {
  signed: SignedDocument;
  manifest: RoundManifest;
  at: number;
}

interface Harness {
  c: Coordinator;
  clock: ManualClock;
  /** Calls to publishWeights: a round is (re)issued by a synchronous call, counted before any await. */
  weightsAsked: number;
  state: CoordinatorState;
  connected: Set<string>;
  published: Published[];
  weights: VerifiedManifest[];
  /** The delta and second moment each publishWeights call was given. */
  deltas: (PublishedDelta | undefined)[];
  moments: (Uint8Array | undefined)[];
  evaluated: Float32Array[];
  /** Every receipt this coordinator issued, in order. */
  receipts: SignedDocument[];
  /** The seed's ledger (a restart hands it to the next coordinator). */
  ledger: Ledger;
  /** When set, persist throws it (a full disk). */
  persistFails?: Error;
  /** When set, issuing receipts throws it (a full disk under the ledger). */
  issueFails?: Error;
  /** When set, keeping an update's bytes in the spool throws it (a full disk under the spool). */
  spoolFails?: Error;
  /** When set, keeping `peer`'s update waits for what it returns (a slow disk). */
  spoolHold?: (peer: string) => Promise<void> | undefined;
  persisted: {
    round: number;
    params: Float32Array;
    momentum: Float32Array;
    tokens: number;
    history: string;
    acceptedUpdates: number;
    rejectedUpdates: number;
    /** Receipts issued when it was persisted. */
    receipts: number;
    /** Receipts the checkpoint holds, to be issued once it is durable. */
    pending: number;
  }[];
  logs: string[];
  /** Every round's verification request. */
  verifyJobs: VerifyJob[];
  verifyLoads: Map<string, Float32Array>[];
  /** The verdict on a peer's update; default: accepted. */
  verdict?: (peer: string) => { accepted: boolean; reason?: string; excused?: boolean; secondMoment?: Uint8Array };
  /** The defense state of each checkpoint. */
  defenses: CoordinatorState['defense'][];
}

const harnesses: Harness[] = [];

/** The memory spool, whose put throws `h.spoolFails` while it is set, and waits for `h.spoolHold`. */
function slowSpool(h: Pick<Harness, 'spoolFails' | 'spoolHold'>): UpdateSpool {
  const spool = memorySpool();
  return {
    ...spool,
    async put(batch, peer, body) {
      await h.spoolHold?.(peer);
      if (h.spoolFails) throw h.spoolFails;
      return spool.put(batch, peer, body);
    },
  };
}

test.afterEach(() => {
  for (const h of harnesses.splice(0)) h.c.stop();
});

const freshState = (): CoordinatorState => freshCoordinatorState(initParams(LAYOUT, 7));

function harness(
  over: Partial<FedSettings> = {},
  state: CoordinatorState = freshState(),
  ledger: Ledger = memoryLedger(seedKey),
): Harness {
  const h: Harness = {
    clock: manualClock(),
    weightsAsked: 0,
    state,
    connected: new Set(),
    published: [],
    weights: [],
    deltas: [],
    moments: [],
    evaluated: [],
    receipts: [],
    persisted: [],
    logs: [],
    verifyJobs: [],
    verifyLoads: [],
    defenses: [],
    ledger,
    c: undefined as unknown as Coordinator,
  };
  h.c = createCoordinator(
    {
      key: seedKey,
      peerId: seed,
      data: DATA,
      async publishWeights(params, name, extras) {
        h.weightsAsked++;
        h.deltas.push(extras?.delta);
        h.moments.push(extras?.secondMoment);
        // A copy, as the seed does: the coordinator updates params in place.
        const m = await verifyManifest(
          await signManifest(seedKey, seed, await buildManifest(params.slice(), name, CFG)),
          seed,
        );
        h.weights.push(m);
        return { weights: m };
      },
      publishRound(signed, manifest) {
        h.published.push({ signed, manifest, at: h.clock.now() });
      },
      isConnected: (peer) => h.connected.has(peer),
      addressOf: () => undefined,
      spool: slowSpool(h),
      async evaluate(params) {
        h.evaluated.push(params.slice());
        return 5 - 0.25 * (h.evaluated.length - 1); // 5, 4.75, 4.5, …
      },
      async verify(job) {
        h.verifyJobs.push(job);
        // Every update as verification loads it (from the coordinator's spool).
        h.verifyLoads.push(
          new Map(await Promise.all(job.updates.peers.map(async (p) => [p, await job.updates.load(p)] as const))),
        );
        return new Map(job.updates.peers.map((peer) => [peer, h.verdict?.(peer) ?? { accepted: true }]));
      },
      async persist(s) {
        if (h.persistFails) throw h.persistFails;
        h.persisted.push({
          round: s.round,
          params: s.params.slice(),
          momentum: s.momentum.slice(),
          tokens: s.tokens,
          history: JSON.stringify(s.history),
          acceptedUpdates: s.acceptedUpdates,
          rejectedUpdates: s.rejectedUpdates,
          receipts: h.receipts.length,
          pending: s.pendingReceipts.length,
        });
        h.defenses.push(s.defense);
      },
      async issueReceipts(entries) {
        if (h.issueFails) throw h.issueFails;
        const issued = await ledger.issue(entries);
        h.receipts.push(...issued);
        return issued;
      },
      ledgerRoot: () => ledger.root(),
      recentReceipts: (peer, since) => ledger.recent(peer, since),
      log: (line) => h.logs.push(line),
      clock: h.clock,
    },
    { ...SETTINGS, ...over },
    state,
  );
  harnesses.push(h);
  return h;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const waitPublished = (h: Harness, n: number, timeoutMs?: number) =>
  waitFor(`${n} published round(s)`, () => h.published.length >= n, timeoutMs);
function last(h: Harness): Published {
  const newest = h.published.at(-1);
  if (!newest) throw new Error('no round published yet');
  return newest;
}

function header(h: Harness, over: Partial<UpdateHeader> = {}): UpdateHeader {
  const m = last(h).manifest;
  return {
    type: 'update',
    round: m.round,
    weights: m.weightsId,
    bytes: 0,
    tokens: MAX_TOKENS,
    steps: HYPER.steps,
    lossFirst: 4.2,
    lossLast: 4.0,
    ...over,
  };
}

/** Indices (at most 5) where `got` differs from `want(i)` bit for bit; one expect instead of thousands. */
function mismatches(got: Float32Array, want: (i: number) => number): string[] {
  const out: string[] = [];
  for (let i = 0; i < got.length && out.length < 5; i++)
    if (!Object.is(got[i], want(i))) out.push(`[${i}] ${got[i]} != ${want(i)}`);
  return out;
}

const int8 = (v: Float32Array) => encodeUpdate(v, { format: 'int8', blockSize: 256 });

/** The seed took the update in: it answers with the hash of the bytes it got. */
async function expectReceived(outcome: UpdateOutcome, body: Uint8Array): Promise<void> {
  expect(outcome).toEqual({ type: 'received', update: await sha256Hex(body) });
}

/** `peer`'s receipt of `round` (issued once the round closed), verified against the seed and checked. */
async function checkReceipt(
  h: Harness,
  peer: string,
  round: number,
  expected: Partial<Receipt>,
  body: Uint8Array,
): Promise<Receipt> {
  const signed = h.c.receipts(peer, round).receipts.find((d) => JSON.parse(d.body).round === round);
  if (!signed) throw new Error(`no receipt of round ${round} for ${peer}`);
  const r = (await verifyReceipt(signed, seed)).value;
  expect(r).toMatchObject({ round, peer, tokens: MAX_TOKENS, ...expected });
  expect(r.update).toBe(await sha256Hex(body));
  expect(r.bytes).toBe(body.length);
  return r;
}

/** start(); A joins and is assigned in round 0 (returned 0). */
async function startWithA(h: Harness): Promise<void> {
  await h.c.start();
  h.connected.add(A);
  expect(h.c.onJoin(A)).toBe(0);
  h.clock.advance(MIN_REISSUE_MS); // the round is issued again with A, at most once per MIN_REISSUE_MS
  await waitPublished(h, 2);
}

/** Round 0 with A; B joins (told 1); A's update closes round 0; round 1 has A and B. Returns A's round-0 update. */
async function toRoundOneWithAB(h: Harness): Promise<Float32Array> {
  await startWithA(h);
  h.connected.add(B);
  // Promised the open round (an amendment is due MIN_REISSUE_MS after its issue), but A's report
  // closes it first: B is assigned in round 1.
  expect(h.c.onJoin(B)).toBe(0);
  const u = randomUniform(P, 100, AMP);
  const body = int8(u);
  await expectReceived(await h.c.onUpdate(A, header(h), body), body);
  await waitPublished(h, 3);
  expect(last(h).manifest.round).toBe(1);
  await checkReceipt(h, A, 0, { index: 0, prev: GENESIS_HASH }, body);
  return u;
}

test('start() evaluates once and publishes a signed round 0 with no assignments', async () => {
  const h = harness();
  const initial = h.state.params.slice();
  const t0 = h.clock.now();
  await h.c.start();
  expect(h.evaluated.length).toBe(1);
  expect(Buffer.compare(Buffer.from(h.evaluated[0]!.buffer), Buffer.from(initial.buffer))).toBe(0);
  expect(h.state.history).toEqual([{ round: 0, tokens: 0, valLoss: 5 }]);
  expect(h.published.length).toBe(1);
  const { signed, manifest } = h.published[0]!;
  const v = await verifyRoundManifest(signed, seed);
  expect(v.value).toEqual(manifest);
  expect(h.c.currentRound()).toEqual(signed);
  // The weights it names are the current params, signed by the seed.
  const w = await verifyManifest(manifest.weights, seed);
  expect(w.id).toBe(manifest.weightsId);
  expect(w.value.sha256).toBe(await sha256Hex(new Uint8Array(initial.buffer)));
  expect(w.value.model).toEqual(CFG);
  expect(w.value.name).toBe('round 0');
  expect(manifest).toMatchObject({
    kind: 'vgpu/round',
    version: 2,
    round: 0,
    data: DATA,
    hyper: HYPER,
    shardCount: 8,
    assignments: {},
    codec: SETTINGS.codec,
    maxNorm: maxUpdateNorm(HYPER, P),
    ledger: { receipts: 0, head: GENESIS_HASH },
  });
  expect(manifest.maxNorm).toBeCloseTo(4 * 2 * 3e-3 * Math.sqrt(4992), 12);
  expect(manifest.deadline).toBe(t0 + LONG_ROUND_MS);
  expect(h.persisted).toEqual([]);
  expect(h.c.status()).toEqual({
    round: 0,
    volunteers: 0,
    acceptedUpdates: 0,
    rejectedUpdates: 0,
    tokens: 0,
    history: [{ round: 0, tokens: 0, valLoss: 5 }],
    open: { round: 0, deadline: manifest.deadline, assigned: 0, received: 0 },
    rejectedByKind: { malformed: 0, invalid: 0, late: 0, refused: 0, unverified: 0 },
    aggregation: { rounds: 0, seconds: 0, lastSeconds: 0 },
  });
});

test('start() of a resumed run does not evaluate again and publishes the stored round', async () => {
  const state = {
    ...freshState(),
    round: 3,
    history: [
      { round: 0, tokens: 0, valLoss: 5 },
      { round: 3, tokens: 96, valLoss: 4.5 },
    ],
    tokens: 96,
    acceptedUpdates: 3,
  };
  const h = harness({}, state);
  await h.c.start();
  expect(h.evaluated.length).toBe(0);
  expect(h.published.map((p) => p.manifest.round)).toEqual([3]);
  expect(h.weights[0]!.value.name).toBe('round 3');
  expect(h.c.status()).toMatchObject({ round: 3, tokens: 96, acceptedUpdates: 3, history: state.history });
});

test('joining: the first joiner restarts the empty round 0 with itself in it; the next is promised round 0, and lands in round 1 when A closes it first', async () => {
  const h = harness();
  await h.c.start();
  h.connected.add(A);
  expect(h.c.onJoin(A)).toBe(0);
  h.clock.advance(MIN_REISSUE_MS);
  await waitPublished(h, 2);
  const r0 = h.published[1]!.manifest;
  expect(r0.round).toBe(0);
  expect(r0.assignments).toEqual({ [A]: 0 });
  // Same weights (nothing trained yet), a later deadline.
  expect(r0.weightsId).toBe(h.published[0]!.manifest.weightsId);
  expect(r0.deadline).toBeGreaterThanOrEqual(h.published[0]!.manifest.deadline);
  expect(await verifyRoundManifest(h.published[1]!.signed, seed)).toMatchObject({ value: r0 });
  expect(h.c.currentRound()).toEqual(h.published[1]!.signed);
  expect(h.c.status().open).toEqual({ round: 0, deadline: r0.deadline, assigned: 1, received: 0 });

  h.connected.add(B);
  expect(h.c.onJoin(B)).toBe(0);
  // Round 0 is not restarted for B: A is being waited for, and B's amendment into it is due only
  // MIN_REISSUE_MS after its issue. (A restart asks for weights at once; and the next round
  // published below is round 1.)
  expect(h.weightsAsked).toBe(2);
  expect(h.published.length).toBe(2);
  expect(h.c.status()).toMatchObject({ round: 0, volunteers: 2, open: { assigned: 1 } });

  // A's update closes round 0 at once (everyone assigned has reported); round 1 has both, shards rotated by the round.
  const body = int8(randomUniform(P, 1, AMP));
  await h.c.onUpdate(A, header(h), body);
  await waitPublished(h, 3);
  const r1 = h.published[2]!.manifest;
  expect(r1.round).toBe(1);
  expect(r1.assignments).toEqual({ [A]: 1, [B]: 2 });
  expect(r1.weightsId).not.toBe(r0.weightsId);
  expect(h.weights.at(-1)!.value.name).toBe('round 1');
  // A peer that joins again is not assigned twice.
  expect(h.c.onJoin(A)).toBe(2);
  expect(h.c.status().volunteers).toBe(2);
});

test("with an lr schedule each round carries its own lr: round 0 of a 2-round warm-up has half the run's", async () => {
  const h = harness({ lrSchedule: { warmupRounds: 2, rounds: 6, finalFraction: 0.1 } });
  await toRoundOneWithAB(h);
  expect(h.published[0]!.manifest.hyper).toEqual({ ...HYPER, lr: HYPER.lr / 2 });
  expect(last(h).manifest).toMatchObject({ round: 1, hyper: { ...HYPER, lr: HYPER.lr } });
  expect(() => harness({ lrSchedule: { warmupRounds: 2, rounds: 2, finalFraction: 0 } })).toThrow(/rounds must be/);
});

/**
 * A closed round's history entry: the verified FLOPs of the tokens it credited; its volunteers
 * measured no GPU time (no impact figures in their headers).
 */
const closedRound = (round: number, tokens: number, valLoss: number, credited: number) => ({
  round,
  tokens,
  valLoss,
  flops: trainingFlops(CFG, HYPER.context, credited),
  gpuSeconds: 0,
  estimatedWh: 0,
});

test('a round closes as soon as every assigned volunteer has reported: params move by exactly lr·mean(updates)', async () => {
  const h = harness();
  const start = h.state.params.slice();
  const u0 = await toRoundOneWithAB(h);

  // Round 0 (A alone): params = start − decode(u0), within int8 error of start − u0.
  const d0 = decodeUpdate(int8(u0), P);
  const after0 = h.persisted[0]!.params;
  let worst0 = 0;
  expect(mismatches(after0, (i) => Math.fround(start[i]! - d0[i]!))).toEqual([]);
  for (let i = 0; i < P; i++) worst0 = Math.max(worst0, Math.abs(after0[i]! - (start[i]! - u0[i]!)));
  expect(worst0).toBeLessThanOrEqual(INT8_TOL);
  expect(worst0).toBeGreaterThan(0); // int8 is lossy: the check above is not vacuous
  // The checkpoint holds round 0's receipt; it was issued only after the checkpoint was written.
  expect(h.persisted[0]!).toMatchObject({
    round: 1,
    tokens: MAX_TOKENS,
    acceptedUpdates: 1,
    rejectedUpdates: 0,
    receipts: 0,
    pending: 1,
  });
  expect(h.receipts).toHaveLength(1);
  expect(last(h).manifest.ledger).toEqual({ receipts: 1, head: expect.stringMatching(/^[0-9a-f]{64}$/) });
  expect(JSON.parse(h.persisted[0]!.history)).toEqual([
    { round: 0, tokens: 0, valLoss: 5 },
    closedRound(1, MAX_TOKENS, 4.75, MAX_TOKENS),
  ]);
  // The model evaluated after the round is the one persisted and published.
  expect(Buffer.compare(Buffer.from(h.evaluated[1]!.buffer), Buffer.from(after0.buffer))).toBe(0);
  expect(h.weights.at(-1)!.value.sha256).toBe(await sha256Hex(new Uint8Array(after0.buffer)));

  // Round 1 (A and B): the mean of their two updates; B claims fewer tokens.
  const uA = randomUniform(P, 200, AMP);
  const uB = randomUniform(P, 300, AMP);
  const bodyA = int8(uA);
  const bodyB = int8(uB);
  const t1 = h.clock.now();
  await expectReceived(await h.c.onUpdate(A, header(h), bodyA), bodyA);
  // Received, not yet accepted: an update counts as accepted once the close verified it.
  expect(h.c.status()).toMatchObject({ round: 1, acceptedUpdates: 1, open: { round: 1, assigned: 2, received: 1 } });
  expect(h.published.length).toBe(3); // still waiting for B
  // B claims fewer tokens; it is credited the round's assignment all the same.
  await expectReceived(await h.c.onUpdate(B, header(h, { tokens: 20 }), bodyB), bodyB);
  await waitPublished(h, 4);
  await checkReceipt(h, A, 1, { index: 1 }, bodyA);
  await checkReceipt(h, B, 1, { index: 2 }, bodyB);
  expect(last(h).at).toBe(t1); // closed at once, without the clock moving to the deadline

  const dA = decodeUpdate(bodyA, P);
  const dB = decodeUpdate(bodyB, P);
  const after1 = h.state.params;
  const delta = (i: number) => Math.fround((dA[i]! + dB[i]!) / 2);
  expect(mismatches(after1, (i) => Math.fround(after0[i]! - delta(i)))).toEqual([]);
  // With momentum 0 the buffer holds just this round's aggregate.
  expect(mismatches(h.state.momentum, delta)).toEqual([]);
  let worst1 = 0;
  for (let i = 0; i < P; i++) worst1 = Math.max(worst1, Math.abs(after1[i]! - (after0[i]! - (uA[i]! + uB[i]!) / 2)));
  expect(worst1).toBeLessThanOrEqual(INT8_TOL);
  expect(h.state.history).toEqual([
    { round: 0, tokens: 0, valLoss: 5 },
    closedRound(1, MAX_TOKENS, 4.75, MAX_TOKENS),
    closedRound(2, 3 * MAX_TOKENS, 4.5, 2 * MAX_TOKENS),
  ]);
  expect(h.persisted.length).toBe(2);
  expect(h.persisted[1]!).toMatchObject({
    round: 2,
    tokens: 3 * MAX_TOKENS,
    acceptedUpdates: 3,
    receipts: 1,
    pending: 2,
  });
  expect(last(h).manifest).toMatchObject({ round: 2, assignments: { [A]: 2, [B]: 3 } });
  expect(h.c.status()).toEqual({
    round: 2,
    volunteers: 2,
    acceptedUpdates: 3,
    rejectedUpdates: 0,
    tokens: 3 * MAX_TOKENS,
    history: h.state.history,
    open: { round: 2, deadline: last(h).manifest.deadline, assigned: 2, received: 0 },
    rejectedByKind: { malformed: 0, invalid: 0, late: 0, refused: 0, unverified: 0 },
    aggregation: { rounds: 2, seconds: expect.any(Number), lastSeconds: expect.any(Number) },
  });
  expect(h.receipts.length).toBe(3);
});

test("with round deltas, the next weights are the last round's plus the decoded delta, bit for bit, and what the delta's codec left out goes into the next one", async () => {
  const deltaCodec: CodecSettings = { format: 'int4', blockSize: 64, density: 1 };
  const h = harness({ deltaCodec });
  const start = h.state.params.slice();
  const u0 = await toRoundOneWithAB(h);
  // Round 0 had no delta (nothing came before it); round 1's names round 0's weights as its `from`.
  expect(h.deltas.slice(0, 2)).toEqual([undefined, undefined]);
  const delta = h.deltas[2]!;
  expect(delta).toMatchObject({ from: h.weights[0]!.id, codec: deltaCodec });
  const after0 = h.persisted[0]!.params;
  expect(mismatches(after0, (i) => applyRoundDelta(start, delta.bytes, deltaCodec)[i]!)).toEqual([]);
  expect(h.weights.at(-1)!.value.sha256).toBe(await sha256Hex(new Uint8Array(after0.buffer)));
  // The exact outer step is start − decode(u0); the published weights plus the residual are that
  // target (to float32 rounding), and int4 with blocks of 64 did leave something out.
  const d0 = decodeUpdate(int8(u0), P);
  const residual0 = h.state.residual!.slice();
  let worst = 0;
  let left = 0;
  for (let i = 0; i < P; i++) {
    worst = Math.max(worst, Math.abs(after0[i]! + residual0[i]! - (start[i]! - d0[i]!)));
    left = Math.max(left, Math.abs(residual0[i]!));
  }
  expect(worst).toBeLessThan(1e-6);
  expect(left).toBeGreaterThan(1e-5);

  // Round 1: the delta from round 1's weights encodes its change plus round 0's residual.
  const uA = randomUniform(P, 200, AMP);
  const uB = randomUniform(P, 300, AMP);
  await h.c.onUpdate(A, header(h), int8(uA));
  await h.c.onUpdate(B, header(h), int8(uB));
  await waitPublished(h, 4);
  const delta1 = h.deltas[3]!;
  expect(delta1.from).toBe(h.weights[2]!.id);
  const after1 = h.state.params;
  expect(mismatches(after1, (i) => applyRoundDelta(after0, delta1.bytes, deltaCodec)[i]!)).toEqual([]);
  const [dA, dB] = [decodeUpdate(int8(uA), P), decodeUpdate(int8(uB), P)];
  worst = 0;
  for (let i = 0; i < P; i++) {
    const target = after0[i]! + residual0[i]! - (dA[i]! + dB[i]!) / 2;
    worst = Math.max(worst, Math.abs(after1[i]! + h.state.residual![i]! - target));
  }
  expect(worst).toBeLessThan(1e-6);
  // Both are in the checkpoint, so a restart publishes the same delta again.
  expect(h.state.delta).toEqual(delta1);
});

test("with a shared second moment, the next round names the mean of the v's its accepted re-executions reproduced, and re-executes from it", async () => {
  const codes = (fill: number) => new Uint8Array(secondMomentLength(P)).fill(fill);
  const h = harness({ shareSecondMoment: true });
  const round = async (seed: number) => {
    const n = h.published.length;
    await h.c.onUpdate(A, header(h), int8(randomUniform(P, seed, AMP)));
    await h.c.onUpdate(B, header(h), int8(randomUniform(P, seed + 1, AMP)));
    await waitPublished(h, n + 1);
  };
  h.verdict = () => ({ accepted: true, secondMoment: codes(100) });
  await toRoundOneWithAB(h);
  // Round 0 named none (none was known); round 1 names the v A's round-0 re-execution reproduced.
  expect(h.moments.slice(0, 2)).toEqual([undefined, undefined]);
  expect(h.moments[2]).toEqual(codes(100));
  expect(h.state.secondMoment).toEqual(codes(100));
  // Round 1: B's update is rejected, so its v does not count.
  h.verdict = (peer) =>
    peer === A
      ? { accepted: true, secondMoment: codes(120) }
      : { accepted: false, reason: 'no', secondMoment: codes(1) };
  await round(200);
  expect(h.verifyJobs.at(-1)!.secondMoment).toEqual(codes(100));
  expect(h.moments[3]).toEqual(codes(120));
  // Round 2: the mean of two, taken in v: codes 124 and 116 stand for v's two octaves apart, whose
  // mean is code 121 (the codes' own mean would be 120).
  h.verdict = (peer) => ({ accepted: true, secondMoment: codes(peer === A ? 124 : 116) });
  await round(300);
  expect(h.moments[4]).toEqual(codes(121));
  // A round whose re-executions gave nothing keeps the last estimate.
  h.verdict = () => ({ accepted: true });
  await round(400);
  expect(h.moments[5]).toEqual(h.moments[4]);
});

test('without a shared second moment no round names one, whatever verification reproduced', async () => {
  const h = harness();
  h.verdict = () => ({ accepted: true, secondMoment: new Uint8Array(secondMomentLength(P)).fill(100) });
  await toRoundOneWithAB(h);
  expect(h.moments).toEqual([undefined, undefined, undefined]);
});

test('admission refuses an update from its header alone, before any body: late, future, other weights, not assigned, too much', async () => {
  const h = harness();
  await toRoundOneWithAB(h);
  h.connected.add(C);
  h.clock.advance((1 - LATE_JOIN_MIN_LEFT) * SETTINGS.roundMs + 1);
  expect(h.c.onJoin(C)).toBe(2); // joined late in round 1: not assigned in it
  const maxBytes = encodedSize(P, SETTINGS.codec);
  const cases: [string, string, UpdateHeader, string][] = [
    ['late', A, header(h, { round: 0, weights: h.published[1]!.manifest.weightsId }), 'late: round 0 is closed'],
    ['future round', A, header(h, { round: 2 }), 'round 2 has not started'],
    [
      'wrong weights id',
      A,
      header(h, { weights: h.published[1]!.manifest.weightsId }),
      "trained from other weights than the round's",
    ],
    [
      'not assigned',
      C,
      header(h),
      'not assigned in this round (a volunteer that joins is assigned from the next round)',
    ],
    [
      'too many tokens',
      A,
      header(h, { tokens: MAX_TOKENS + 1 }),
      `claims ${MAX_TOKENS + 1} tokens, more than the round's 2×2×8`,
    ],
    [
      'more bytes than the codec makes',
      A,
      header(h, { bytes: maxBytes + 1 }),
      `${maxBytes + 1} bytes, more than the round's codec makes (${maxBytes})`,
    ],
  ];
  for (const [what, peer, hdr, reason] of cases) expect(h.c.admit(peer, hdr), what).toBe(reason);
  expect(h.c.admit(A, header(h, { bytes: maxBytes }))).toBeUndefined();
  // Nothing was received: no count, nothing in the ledger.
  expect(h.c.status()).toMatchObject({ round: 1, acceptedUpdates: 1, rejectedUpdates: 0, open: { received: 0 } });
  expect(h.receipts.length).toBe(1);
  // A sends its update; a second one in the same round is refused as a duplicate.
  const good = int8(randomUniform(P, 7, AMP));
  await expectReceived(await h.c.onUpdate(A, header(h), good), good);
  expect(h.c.admit(A, header(h))).toBe('duplicate: this round already has an update from this peer');
});

test("an admitted update with a bad body is rejected (unsigned, unstored) and uses up its sender's try; counters match", async () => {
  const h = harness();
  await h.c.start();
  for (const peer of [A, ...crowd]) {
    h.connected.add(peer);
    expect(h.c.onJoin(peer)).toBe(0);
  }
  h.clock.advance(MIN_REISSUE_MS); // one reissue for all seven joins
  await waitPublished(h, 2);
  expect(h.published).toHaveLength(2);
  const r0 = last(h).manifest;
  expect(Object.keys(r0.assignments).sort()).toEqual([A, ...crowd].sort());
  const good = int8(randomUniform(P, 7, AMP));
  // A sparse fp32 body (a fifth of the blocks: it fits the round's int8 size): not the round's codec.
  const fp32Body = encodeUpdate(randomUniform(P, 6, AMP), { format: 'fp32', blockSize: 256, density: 0.2 });
  // int8 with a NaN block scale: the decoder refuses it.
  const nanScale = int8(randomUniform(P, 8, AMP));
  new DataView(nanScale.buffer).setFloat32(20, Number.NaN, true);
  const big = int8(randomUniform(P, 9, 0.1)); // norm ≈ 4.1 > 1.70
  const cases: [string, Uint8Array, string | RegExp][] = [
    ['malformed body', new Uint8Array(10), 'bad update: 10 bytes, shorter than the 20-byte header'],
    ['bad magic', new Uint8Array(good.length), 'bad update: wrong magic (not a VFU update)'],
    ['wrong length', int8(randomUniform(P - 1, 7, AMP)), `bad update: length ${P - 1}, expected ${P}`],
    ['fp32 in an int8 round', fp32Body, 'bad update: format fp32, the round asks for int8'],
    ['NaN scale', nanScale, 'bad update: non-finite scale NaN for block 0'],
    ['norm too large', big, new RegExp(`^norm 4\\.\\d+ above maxNorm ${r0.maxNorm}$`)],
  ];
  for (const [i, [what, body, reason]] of cases.entries()) {
    const peer = crowd[i]!;
    const hdr = header(h, { bytes: body.length });
    expect(h.c.admit(peer, hdr), what).toBeUndefined();
    const outcome = await h.c.onUpdate(peer, hdr, body);
    expect(outcome, what).toEqual({
      type: 'rejected',
      reason: typeof reason === 'string' ? reason : expect.stringMatching(reason),
    });
    expect(h.c.status().rejectedUpdates, what).toBe(i + 1);
    // That was its try for this round.
    expect(h.c.admit(peer, header(h)), what).toBe('duplicate: this round already has an update from this peer');
  }
  // The round waits only for A now; A's update closes it, and only A's update moved the model.
  expect(h.c.status()).toMatchObject({ round: 0, acceptedUpdates: 0, rejectedUpdates: 6, open: { received: 0 } });
  // By kind (/metrics): five bodies that do not decode, one that fails validation, and the six
  // second tries refused from their header.
  expect(h.c.status().rejectedByKind).toEqual({ malformed: 5, invalid: 1, late: 0, refused: 6, unverified: 0 });
  await expectReceived(await h.c.onUpdate(A, header(h), good), good);
  await waitPublished(h, 3);
  expect(h.c.status()).toMatchObject({ round: 1, acceptedUpdates: 1, rejectedUpdates: 6 });
  expect(h.c.status().aggregation).toMatchObject({ rounds: 1, seconds: expect.any(Number) });
  expect(h.c.status().aggregation.lastSeconds).toBeGreaterThan(0);
  // Only A's update has a receipt; each rejection was logged, and its sender can ask why.
  expect(h.receipts.length).toBe(1);
  await checkReceipt(h, A, 0, {}, good);
  expect(h.logs.filter((l) => l.startsWith('rejected an update from')).length).toBe(6);
  expect(h.c.receipts(crowd[0]!, 0)).toEqual({
    type: 'receipts',
    receipts: [],
    rejected: [{ round: 0, reason: 'bad update: 10 bytes, shorter than the 20-byte header' }],
    closedThrough: 0,
  });
});

test('joins into a round that assigns nobody reissue it once per MIN_REISSUE_MS; volunteers that left are dropped', async () => {
  const h = harness();
  await h.c.start();
  h.connected.add(A);
  h.connected.add(B);
  expect(h.c.onJoin(A)).toBe(0);
  expect(h.c.onJoin(B)).toBe(0);
  h.clock.advance(MIN_REISSUE_MS - 1);
  expect(h.published).toHaveLength(1);
  h.clock.advance(1);
  await waitPublished(h, 2);
  expect(h.weightsAsked).toBe(2);
  // Both leave before reporting; the deadline reissues the round, without them.
  h.connected.clear();
  h.clock.advance(SETTINGS.roundMs);
  await waitPublished(h, 3);
  expect(last(h).manifest.assignments).toEqual({});
  // A stranger joining and leaving over and over reissues the round once per MIN_REISSUE_MS at most.
  for (let i = 0; i < 20; i++) {
    h.connected.add(C);
    h.c.onJoin(C);
    h.connected.delete(C);
    h.clock.advance(MIN_REISSUE_MS / 4);
    await new Promise((r) => setTimeout(r, 0));
  }
  await waitFor('publishing to settle', () => h.published.length >= 3);
  expect(h.published.length).toBeLessThanOrEqual(3 + 20 / 4 + 1);
  expect(h.c.status().volunteers).toBe(0);
});

test('a volunteer joining an open round with LATE_JOIN_MIN_LEFT of it left is amended into it; its updates keep counting', async () => {
  const h = harness();
  await toRoundOneWithAB(h);
  const r1 = last(h);
  const published = h.published.length;
  // A reports; then C joins with the whole round left: promised this round.
  const uA = randomUniform(P, 21, AMP);
  await expectReceived(await h.c.onUpdate(A, header(h), int8(uA)), int8(uA));
  h.connected.add(C);
  expect(h.c.onJoin(C)).toBe(1);
  // Amended once MIN_REISSUE_MS after the round's issue: same weights, deadline and shards, C added on a free shard.
  h.clock.advance(MIN_REISSUE_MS);
  await waitPublished(h, published + 1);
  const amended = last(h).manifest;
  expect(amended).toMatchObject({ round: 1, weightsId: r1.manifest.weightsId, deadline: r1.manifest.deadline });
  expect(amended.assignments).toEqual({ ...r1.manifest.assignments, [C]: expect.any(Number) });
  expect(new Set(Object.values(amended.assignments)).size).toBe(3);
  expect(last(h).signed.body).not.toBe(r1.signed.body);
  // A second join of C changes nothing; a joiner past the share waits for the next round.
  expect(h.c.onJoin(C)).toBe(2);
  h.clock.advance((1 - LATE_JOIN_MIN_LEFT) * SETTINGS.roundMs);
  const D = crowd[0]!;
  h.connected.add(D);
  expect(h.c.onJoin(D)).toBe(2);
  // B and C report: the round closes with all three, A's update (taken before the amendment) counted.
  await h.c.onUpdate(B, header(h), int8(randomUniform(P, 22, AMP)));
  await h.c.onUpdate(C, header(h), int8(randomUniform(P, 23, AMP)));
  await waitPublished(h, published + 2);
  expect(last(h).manifest.round).toBe(2);
  expect(h.state.acceptedUpdates).toBe(1 + 3);
  expect(Object.keys(last(h).manifest.assignments).sort()).toEqual([A, B, C, D].sort());
});

test('a volunteer that disconnected is not waited for: LEFT_GRACE_MS after it left before, at the deadline if after', async () => {
  const h = harness();
  await toRoundOneWithAB(h);
  // B disconnects before A reports: round 1 closes once B has been away LEFT_GRACE_MS.
  h.connected.delete(B);
  const t = h.clock.now();
  await h.c.onUpdate(A, header(h), int8(randomUniform(P, 11, AMP)));
  h.clock.advance(LEFT_GRACE_MS - 1);
  expect(h.published).toHaveLength(3);
  h.clock.advance(1);
  await waitPublished(h, 4);
  expect(last(h).at).toBe(t + LEFT_GRACE_MS);
  // B is not assigned again while it is away; it is back on the roster once connected again.
  expect(last(h).manifest).toMatchObject({ round: 2, assignments: { [A]: 2 } });
  expect(h.c.status().volunteers).toBe(1);
  h.connected.add(B);
  // Too little of round 2 left to be assigned into it: B waits for round 3.
  h.clock.advance((1 - LATE_JOIN_MIN_LEFT) * SETTINGS.roundMs + 1);
  expect(h.c.onJoin(B)).toBe(3);
  await h.c.onUpdate(A, header(h), int8(randomUniform(P, 12, AMP)));
  await waitPublished(h, 5);
  const r3 = last(h).manifest;
  expect(r3).toMatchObject({ round: 3, assignments: { [A]: 3, [B]: 4 } });

  // A reports, then B disconnects without reporting: the round closes at its deadline with A's update.
  const before = h.state.params.slice();
  const body = int8(randomUniform(P, 13, AMP));
  await h.c.onUpdate(A, header(h), body);
  h.connected.delete(B);
  // 1 ms before the deadline the round is open; at the deadline it closes to updates at once
  // (before any await), and moves on once checkpointed.
  h.clock.advance(r3.deadline - 1 - h.clock.now());
  expect(h.c.status().round).toBe(3);
  expect(h.c.admit(A, header(h, { tokens: 1 }))).toBe('duplicate: this round already has an update from this peer');
  expect(h.published.length).toBe(5);
  h.clock.advance(1);
  expect(h.c.admit(A, header(h))).toBe('late: round 3 is closed');
  await waitPublished(h, 6);
  expect(h.c.status().round).toBe(4);
  expect(last(h).at).toBe(r3.deadline);
  const d = decodeUpdate(body, P);
  expect(mismatches(h.state.params, (i) => Math.fround(before[i]! - d[i]!))).toEqual([]);
  expect(last(h).manifest).toMatchObject({ round: 4, assignments: { [A]: 4 } });
  expect(h.state.history.at(-1)).toMatchObject({ round: 4, tokens: 4 * MAX_TOKENS });
});

test('a round with no update by its deadline is issued again: same round and weights, later deadline, nothing persisted', async () => {
  const ROUND_MS = 2 * MIN_REISSUE_MS; // longer: a round is not issued again sooner than MIN_REISSUE_MS
  const h = harness({ roundMs: ROUND_MS });
  await startWithA(h);
  const first = h.published[1]!.manifest;
  // A never reports: nothing until the deadline, then the round is issued again (weights asked at once).
  h.clock.advance(first.deadline - 1 - h.clock.now());
  expect(h.weightsAsked).toBe(2);
  h.clock.advance(1);
  expect(h.weightsAsked).toBe(3);
  await waitPublished(h, 3);
  const again = h.published[2]!.manifest;
  expect(again.round).toBe(0);
  expect(again.weightsId).toBe(first.weightsId);
  expect(again.assignments).toEqual({ [A]: 0 });
  expect(again.deadline).toBe(first.deadline + ROUND_MS);
  expect(h.published[2]!.at).toBe(first.deadline);
  expect(h.logs).toContain('round 0: no usable update; issuing it again');
  // A leaves: the next reissue, at the next deadline, has nobody in it.
  h.connected.delete(A);
  h.clock.advance(ROUND_MS);
  await waitPublished(h, 4);
  expect(last(h).manifest).toMatchObject({ round: 0, assignments: {} });
  expect(last(h).manifest.deadline).toBeGreaterThan(again.deadline);
  expect(h.evaluated.length).toBe(1);
  expect(h.persisted).toEqual([]);
  expect(h.state.history.length).toBe(1);
  expect(h.c.status()).toMatchObject({
    round: 0,
    volunteers: 0,
    acceptedUpdates: 0,
    rejectedUpdates: 0,
    open: { round: 0, assigned: 0, received: 0 },
  });
  // An update for the reissued round still works (A came back and was assigned on joining).
  h.connected.add(A);
  expect(h.c.onJoin(A)).toBe(0);
  h.clock.advance(MIN_REISSUE_MS);
  await waitPublished(h, 5);
  expect(last(h).manifest.assignments).toEqual({ [A]: 0 });
  await h.c.onUpdate(A, header(h), int8(randomUniform(P, 3, AMP)));
  await waitPublished(h, 6);
  expect(last(h).manifest.round).toBe(1);
  expect(h.persisted.length).toBe(1);
});

test('stop() cancels the deadline: nothing is published after it', async () => {
  const h = harness({ roundMs: 200 });
  await startWithA(h);
  expect(h.clock.pending()).toBe(1); // the open round's deadline
  h.c.stop();
  expect(h.clock.pending()).toBe(0);
  h.clock.advance(200);
  expect(h.weightsAsked).toBe(2);
  expect(h.published.length).toBe(2);
});

test('a checkpoint that fails (a full disk) applies nothing; the close is tried again and the run goes on', async () => {
  const h = harness();
  await startWithA(h);
  const before = h.state.params.slice();
  h.persistFails = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  await h.c.onUpdate(A, header(h), int8(randomUniform(P, 11, AMP)));
  await waitFor('the failure to be logged', () => h.logs.some((l) => l.startsWith('closing round 0 failed: ENOSPC')));
  // Nothing moved: same round, same weights, no receipt, no new round published; updates are refused meanwhile.
  expect(h.receipts).toEqual([]);
  expect(h.state.round).toBe(0);
  expect(Buffer.compare(Buffer.from(h.state.params.buffer), Buffer.from(before.buffer))).toBe(0);
  expect(h.published).toHaveLength(2);
  expect(h.c.admit(B, header(h))).toBe('late: round 0 is closed');
  // Space is freed: the next try closes the round with the same update, and round 1 is published.
  h.persistFails = undefined;
  h.clock.advance(CLOSE_RETRY_MS);
  await waitPublished(h, 3);
  expect(last(h).manifest.round).toBe(1);
  expect(h.state.round).toBe(1);
  expect(h.persisted.map((p) => p.round)).toEqual([1]);
});

test('receipts the ledger cannot take (a full disk) hold the next round back; once it can, each is issued once', async () => {
  const h = harness();
  await startWithA(h);
  const body = int8(randomUniform(P, 21, AMP));
  h.issueFails = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  await expectReceived(await h.c.onUpdate(A, header(h), body), body);
  await waitFor('the failure to be logged', () => h.logs.some((l) => l.startsWith('closing round 0 failed: ENOSPC')));
  // Checkpointed (round 1 is the run's), but no receipt and no new round yet; A is told round 0 is not closed for credit.
  expect(h.persisted.map((p) => p.round)).toEqual([1]);
  expect(h.receipts).toEqual([]);
  expect(h.published).toHaveLength(2);
  expect(h.c.receipts(A, 0)).toMatchObject({ receipts: [], closedThrough: -1 });
  h.issueFails = undefined;
  h.clock.advance(CLOSE_RETRY_MS);
  await waitPublished(h, 3);
  expect(last(h).manifest).toMatchObject({ round: 1, ledger: { receipts: 1 } });
  expect(h.receipts).toHaveLength(1);
  await checkReceipt(h, A, 0, { index: 0 }, body);
  expect(h.c.receipts(A, 0).closedThrough).toBe(0);
});

test("a restart issues the checkpoint's pending receipts once: none twice, whatever the restarts", async () => {
  // The seed crashes after round 0's checkpoint, before its receipts reached the ledger.
  const h = harness();
  await startWithA(h);
  const body = int8(randomUniform(P, 22, AMP));
  h.issueFails = new Error('crashed');
  await expectReceived(await h.c.onUpdate(A, header(h), body), body);
  await waitFor('the checkpoint', () => h.persisted.length === 1);
  h.c.stop();
  const checkpoint = (): CoordinatorState => ({
    ...h.state,
    params: h.state.params.slice(),
    momentum: h.state.momentum.slice(),
    history: [...h.state.history],
  });
  expect(h.state.pendingReceipts).toHaveLength(1);
  // Restarted from the checkpoint with the same ledger: the receipt is issued before round 1 is published.
  const again = harness({}, checkpoint(), h.ledger);
  again.connected.add(A);
  await again.c.start();
  expect(again.receipts).toHaveLength(1);
  expect(last(again).manifest).toMatchObject({ round: 1, ledger: { receipts: 1 } });
  await checkReceipt(again, A, 0, { index: 0 }, body);
  again.c.stop();
  // And again: the ledger holds it, nothing is issued twice.
  const third = harness({}, checkpoint(), h.ledger);
  await third.c.start();
  expect(third.receipts).toHaveLength(0);
  expect(h.ledger.root().receipts).toBe(1);
});

test('a volunteer whose link drops and comes back within LEFT_GRACE_MS is still waited for', async () => {
  const h = harness();
  await toRoundOneWithAB(h);
  h.connected.delete(B); // a reload, a network change
  await h.c.onUpdate(A, header(h), int8(randomUniform(P, 31, AMP)));
  h.clock.advance(LEFT_GRACE_MS / 2);
  h.connected.add(B);
  h.clock.advance(LEFT_GRACE_MS);
  expect(h.published).toHaveLength(3); // still round 1, waiting for B
  const body = int8(randomUniform(P, 32, AMP));
  await expectReceived(await h.c.onUpdate(B, header(h), body), body);
  await waitPublished(h, 4);
  await checkReceipt(h, B, 1, {}, body);
});

test('a volunteer that leaves after the others sent is waited for LEFT_GRACE_MS from its leaving, not until the deadline', async () => {
  const h = harness();
  await toRoundOneWithAB(h);
  const body = int8(randomUniform(P, 33, AMP));
  await expectReceived(await h.c.onUpdate(A, header(h), body), body);
  h.clock.advance(LEFT_GRACE_MS / 2); // B still connected: waited for
  expect(h.published).toHaveLength(3);
  h.connected.delete(B);
  h.c.onLeft();
  h.clock.advance(LEFT_GRACE_MS - 1);
  expect(h.published).toHaveLength(3);
  h.clock.advance(1); // 1.5 × LEFT_GRACE_MS after round 1 opened: well before its deadline (LONG_ROUND_MS)
  await waitPublished(h, 4);
  expect(last(h).manifest.round).toBe(2);
});

test('a leave in a round that assigned nobody closes nothing: the round still takes a joiner', async () => {
  const h = harness();
  await h.c.start();
  expect(last(h).manifest.assignments).toEqual({});
  h.c.onLeft();
  h.clock.advance(LEFT_GRACE_MS);
  expect(h.published).toHaveLength(1);
  h.connected.add(A);
  expect(h.c.onJoin(A)).toBe(0); // issued again with A in it, not refused as closing
});

test('a round whose only updates were rejected is issued again, not sooner than MIN_REISSUE_MS after the last issue', async () => {
  const h = harness();
  await startWithA(h);
  const issuedAt = last(h).at;
  const outcome = await h.c.onUpdate(A, header(h, { bytes: 10 }), new Uint8Array(10));
  expect(outcome.type).toBe('rejected');
  expect(h.published).toHaveLength(2);
  h.clock.advance(issuedAt + MIN_REISSUE_MS - 1 - h.clock.now());
  expect(h.published).toHaveLength(2);
  h.clock.advance(1);
  await waitPublished(h, 3);
  expect(last(h).manifest.round).toBe(0);
  expect(last(h).at).toBe(issuedAt + MIN_REISSUE_MS);
});

test('an update still being stored when the last other one is taken is waited for, not turned away as late', async () => {
  const h = harness();
  await toRoundOneWithAB(h);
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  h.spoolHold = (peer) => (peer === A ? held : undefined);
  const bodyA = int8(randomUniform(P, 201, AMP));
  const bodyB = int8(randomUniform(P, 301, AMP));
  const a = h.c.onUpdate(A, header(h), bodyA);
  // B's is taken whole while A's is still being stored: both have tried, but the round does not close.
  await expectReceived(await h.c.onUpdate(B, header(h), bodyB), bodyB);
  expect(h.published).toHaveLength(3);
  release();
  await expectReceived(await a, bodyA);
  await waitPublished(h, 4);
  expect(last(h).manifest.round).toBe(2);
  expect(h.c.status().acceptedUpdates).toBe(3);
});

test('an update the spool cannot keep (a full disk) is refused with the reason; with room again, the next is taken', async () => {
  const h = harness();
  await startWithA(h);
  h.spoolFails = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const body = int8(randomUniform(P, 7, AMP));
  expect(await h.c.onUpdate(A, header(h), body)).toEqual({ type: 'rejected', reason: 'the seed could not store it' });
  expect(h.logs.join('\n')).toContain(`could not keep ${A}'s update for round 0: ENOSPC`);
  expect(h.c.status().rejectedByKind.refused).toBe(1);
  // Nothing was aggregated: round 0 is issued again, and with room the update is taken and closes it.
  h.spoolFails = undefined;
  h.clock.advance(MIN_REISSUE_MS);
  await waitPublished(h, 3);
  expect(last(h).manifest.round).toBe(0);
  await expectReceived(await h.c.onUpdate(A, header(h), body), body);
  await waitPublished(h, 4);
  expect(last(h).manifest.round).toBe(1);
  expect(h.c.status().acceptedUpdates).toBe(1);
});

test('only verified updates are aggregated and credited; a failed one is counted, its reason kept, its sender benched or, caught, suspended', async () => {
  const h = harness();
  const u0 = await toRoundOneWithAB(h);
  const after0 = h.persisted[0]!.params;
  h.verdict = (peer) =>
    peer === B ? { accepted: false, reason: 're-execution differs by 9.99', caught: true } : { accepted: true };
  const bodyA = int8(randomUniform(P, 200, AMP));
  const bodyB = int8(randomUniform(P, 300, AMP));
  await expectReceived(await h.c.onUpdate(A, header(h), bodyA), bodyA);
  await expectReceived(await h.c.onUpdate(B, header(h), bodyB), bodyB);
  await waitPublished(h, 4);

  // The verification asked for: the round's start weights, each sender's streak, round 0's accepted update.
  const job = h.verifyJobs[1]!;
  expect(job.manifest.round).toBe(1);
  expect(Buffer.compare(Buffer.from(job.start.buffer), Buffer.from(after0.buffer))).toBe(0);
  expect([...job.streaks]).toEqual([
    [A, 1],
    [B, 0],
  ]);
  // Round 0's accepted update, as its sketch (the one verification of round 0 had); the updates as sent.
  expect([...job.earlier!.keys()]).toEqual([A]);
  expect(job.earlier!.get(A)!.length).toBe(SKETCH_SIZE);
  expect(mismatches(job.earlier!.get(A)!, (i) => h.verifyJobs[0]!.updates.sketch(A)[i]!)).toEqual([]);
  expect(mismatches(h.verifyLoads[0]!.get(A)!, (i) => decodeUpdate(int8(u0), P)[i]!)).toEqual([]);
  expect(mismatches(h.verifyLoads[1]!.get(B)!, (i) => decodeUpdate(bodyB, P)[i]!)).toEqual([]);
  expect(job.maxReexecutions).toBe(SETTINGS.reexecutionsPerRound);

  // Only A's update moved the model (mean of one), and only A was credited.
  const dA = decodeUpdate(bodyA, P);
  expect(mismatches(h.state.params, (i) => Math.fround(after0[i]! - dA[i]!))).toEqual([]);
  await checkReceipt(h, A, 1, { index: 1 }, bodyA);
  expect(h.c.receipts(B, 1)).toEqual({
    type: 'receipts',
    receipts: [],
    rejected: [{ round: 1, reason: 're-execution differs by 9.99' }],
    closedThrough: 1,
  });
  expect(h.c.status()).toMatchObject({ acceptedUpdates: 2, rejectedUpdates: 1, tokens: 2 * MAX_TOKENS });
  expect(h.persisted[1]).toMatchObject({ acceptedUpdates: 2, rejectedUpdates: 1 });
  expect(h.logs).toContain(`round 1: ${B}'s update not credited: re-execution differs by 9.99`);
  expect(h.state.volunteers[A]).toMatchObject({ verified: 2, streak: 2, misses: 0 });
  // Caught sending work not its own: suspended, so round 2 goes to A alone though B is still joined.
  expect(h.state.volunteers[B]).toMatchObject({
    verified: 0,
    streak: 0,
    misses: 1,
    benchedUntil: 3,
    suspendedUntil: 2 + SUSPENSION_ROUNDS,
  });
  expect(Object.keys(last(h).manifest.assignments)).toEqual([A]);

  // A round none of whose updates passed is issued again: the excused keep their standing.
  h.verdict = () => ({ accepted: false, reason: 'budget spent', excused: true });
  const published = h.published.length;
  await h.c.onUpdate(A, header(h), int8(randomUniform(P, 400, AMP)));
  h.clock.advance(MIN_REISSUE_MS);
  await waitPublished(h, published + 1);
  expect(last(h).manifest.round).toBe(2);
  expect(h.persisted).toHaveLength(2);
  expect(h.state.volunteers[A]).toMatchObject({ verified: 2, streak: 2, misses: 0, lastAssigned: 2 });
  expect(h.c.receipts(A, 2).rejected).toEqual([{ round: 2, reason: 'budget spent' }]);
});

test('admission bounds follow the recent accepted norms; the checkpoint carries the last aggregate and the norms', async () => {
  const h = harness();
  await toRoundOneWithAB(h);
  const bodyA = int8(randomUniform(P, 200, AMP));
  const bodyB = int8(randomUniform(P, 300, AMP));
  await h.c.onUpdate(A, header(h), bodyA);
  await h.c.onUpdate(B, header(h), bodyB);
  await waitPublished(h, 4);
  // Three accepted norms (≈ 0.41 each, uniform noise of ±AMP over P floats) now set the bounds.
  const defense = h.defenses[1]!;
  expect(defense.recentNorms).toHaveLength(3);
  for (const norm of defense.recentNorms) expect(norm).toBeCloseTo(AMP * Math.sqrt(P / 3), 1);
  // The mean rule's aggregate, which momentum 0 leaves in the buffer too, is centered clipping's next reference.
  expect(mismatches(defense.reference!, (i) => h.state.momentum[i]!)).toEqual([]);
  const sorted = [...defense.recentNorms].sort((a, b) => a - b);
  const median = sorted[1]!;
  expect(last(h).manifest.maxNorm).toBeCloseTo(3 * median, 6);
  expect(last(h).manifest.maxNorm).toBeLessThan(maxUpdateNorm(HYPER, P));
  // A zero update (the free rider's) is refused on arrival, below a quarter of the median norm.
  const zero = int8(new Float32Array(P));
  const outcome = await h.c.onUpdate(A, header(h, { bytes: zero.length }), zero);
  expect(outcome).toEqual({
    type: 'rejected',
    reason: `norm 0 below minNorm ${0.25 * median}: too small to carry the round's work`,
  });
  // One three times the median is within bounds; a little more is not.
  const over = int8(randomUniform(P, 500, 3.2 * AMP));
  expect((await h.c.onUpdate(B, header(h), over)).type).toBe('rejected');
});
