// The two signed documents of a federated run: the round manifest (what to train, on which
// weights and data, until when) and the receipt (the credit for one volunteer's verified update in
// one round). Receipts form a hash chain, the seed's ledger: each names its position and the hash of
// the one before, and each round manifest names the ledger's length and last hash (its root), so
// anyone holding the ledger can check every volunteer's totals against the seed's signed roots.

import type { PeerId, PrivateKey } from '@libp2p/interface';
import {
  isSha256Hex,
  type SignedDocument,
  sha256Hex,
  signDocument,
  utf8,
  type VerifiedDocument,
  verifyDocument,
} from '../swarm';
import { MAX_BLOCK_SIZE, UPDATE_FORMATS, type UpdateFormat } from './codec';
import { ADAPTER_CLASSES, type AdapterClass } from './impact';

export interface CodecSettings {
  format: UpdateFormat;
  blockSize: number;
  /** Fraction of blocks kept (block top-k); 1 sends every block. */
  density: number;
}

/** What each volunteer does in a round (the inner optimisation). */
export interface RoundHyper {
  /** Local AdamW steps (DiLoCo's H). */
  steps: number;
  batchSize: number;
  context: number;
  lr: number;
  weightDecay: number;
  /** Seed of the data order; batches come from (seed, shard, step). */
  dataSeed: number;
  /**
   * Local steps over which the inner lr ramps up linearly, from lr/warmupSteps to lr (absent: none).
   * Each round starts AdamW afresh, and its first bias-corrected steps move every weight by about lr.
   */
  warmupSteps?: number;
}

/** The ledger when a round was published: receipts so far and the hash of the last one. */
export interface LedgerRoot {
  receipts: number;
  /** receiptHash of the last receipt; GENESIS_HASH for an empty ledger. */
  head: string;
}

/** The `prev` of the first receipt and the head of an empty ledger. */
export const GENESIS_HASH = '0'.repeat(64);

export interface RoundManifest {
  kind: 'vgpu/round';
  version: 2;
  round: number;
  /** The signed weights manifest the round starts from, and its id. */
  weights: SignedDocument;
  weightsId: string;
  /** sha256 of the training and validation token files (`/data/train.u16`, `/data/validation.u16`). */
  data: { train: string; validation: string };
  hyper: RoundHyper;
  shardCount: number;
  /** Volunteer peer id -> its data shard this round. Volunteers who joined later wait for the next. */
  assignments: Record<string, number>;
  /** Updates must arrive before this time (ms since the epoch); the round closes then at the latest. */
  deadline: number;
  codec: CodecSettings;
  /** Updates with a larger L2 norm are rejected. */
  maxNorm: number;
  /** The receipts ledger as it stood when this round was published. */
  ledger: LedgerRoot;
  /**
   * The signed delta manifest (round-delta.ts) that rebuilds `weights` from the last round's weights;
   * absent for the first round, after a run's settings turned deltas off, or when the weights did not change.
   */
  delta?: SignedDocument;
  /**
   * The signed second-moment manifest (second-moment.ts): AdamW's v every trainer of the round starts
   * from, re-executions included. Absent: fresh AdamW.
   */
  secondMoment?: SignedDocument;
}

/**
 * The seed's signature that `peer`'s update for `round` was verified and went into the model. Issued
 * once the round's checkpoint is durable, at most one per (peer, round); rejected updates get none.
 */
export interface Receipt {
  kind: 'vgpu/receipt';
  /** 3 adds flops and the impact figures; receipts of version 2 (older ledgers) have neither. */
  version: 2 | 3;
  round: number;
  peer: string;
  /** Training tokens credited: the round's assignment (steps × batch × context), never a claim. */
  tokens: number;
  /** Their nominal training FLOPs, from the round's model and shape (impact.ts): the credits. */
  flops?: number;
  /**
   * The impact figures (impact.ts), estimates labelled as such: the GPU-busy seconds the volunteer
   * measured (capped by the round's length), the adapter class it reported, the energy that gives,
   * and its grams of CO₂ where the run publishes a grid schedule for the region it chose.
   */
  gpuSeconds?: number;
  adapter?: AdapterClass;
  estimatedWh?: number;
  gCO2?: number;
  /** sha256 of the update bytes received, and their size. */
  update: string;
  bytes: number;
  at: number;
  /** Position in the seed's ledger (0 for the first receipt) and the receiptHash of the one before. */
  index: number;
  prev: string;
}

/** A receipt before the ledger places it in its chain: what the coordinator decides. */
export type ReceiptEntry = Omit<Receipt, 'kind' | 'version' | 'index' | 'prev'>;

export class FedDocumentError extends Error {
  override name = 'FedDocumentError';
}

const isInt = (v: unknown, min = 0): v is number => Number.isInteger(v) && (v as number) >= min;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new FedDocumentError(what);
}

/** Checks codec settings as a document gives them; the error names `what`. */
export function checkCodecSettings(value: unknown, what: string): asserts value is CodecSettings {
  const c = value as Record<string, unknown> | undefined;
  check(
    typeof c === 'object' &&
      c !== null &&
      UPDATE_FORMATS.includes(c.format as UpdateFormat) &&
      isInt(c.blockSize, 1) &&
      isNum(c.density) &&
      c.density > 0 &&
      c.density <= 1,
    `${what}: codec is invalid`,
  );
  check(
    (c.blockSize as number) <= MAX_BLOCK_SIZE,
    `${what}: codec.blockSize ${c.blockSize} is over ${MAX_BLOCK_SIZE}, the codec's largest`,
  );
}

export function parseRoundManifest(value: unknown): RoundManifest {
  check(typeof value === 'object' && value !== null, 'round manifest: not an object');
  const m = value as Record<string, unknown>;
  check(
    m.kind === 'vgpu/round' && m.version === 2,
    `round manifest: unknown kind/version ${String(m.kind)}/${String(m.version)}`,
  );
  check(isInt(m.round), 'round manifest: round must be a non-negative integer');
  check(isSha256Hex(m.weightsId), 'round manifest: weightsId must be a sha256 hex id');
  check(typeof m.weights === 'object' && m.weights !== null, 'round manifest: weights must be a signed document');
  const data = m.data as Record<string, unknown> | undefined;
  check(
    data && isSha256Hex(data.train) && isSha256Hex(data.validation),
    'round manifest: data must name the token files by sha256',
  );
  const h = m.hyper as Record<string, unknown> | undefined;
  check(
    h &&
      isInt(h.steps, 1) &&
      isInt(h.batchSize, 1) &&
      isInt(h.context, 1) &&
      isNum(h.lr) &&
      isNum(h.weightDecay) &&
      isInt(h.dataSeed),
    'round manifest: hyper is incomplete',
  );
  // A step with a learning rate of 0 moves nothing, and a negative one climbs the loss.
  check((h.lr as number) > 0, `round manifest: hyper.lr must be positive, got ${h.lr}`);
  check((h.weightDecay as number) >= 0, `round manifest: hyper.weightDecay must be >= 0, got ${h.weightDecay}`);
  check(
    h.warmupSteps === undefined || (isInt(h.warmupSteps) && (h.warmupSteps as number) <= (h.steps as number)),
    `round manifest: hyper.warmupSteps must be an integer from 0 to steps, got ${h.warmupSteps}`,
  );
  check(isInt(m.shardCount, 1), 'round manifest: shardCount must be a positive integer');
  check(typeof m.assignments === 'object' && m.assignments !== null, 'round manifest: assignments must be an object');
  const shards = Object.values(m.assignments as Record<string, unknown>);
  for (const shard of shards)
    check(isInt(shard) && shard < (m.shardCount as number), 'round manifest: a shard is out of range');
  // Each volunteer of a round trains its own shard.
  check(
    shards.length <= (m.shardCount as number),
    `round manifest: ${shards.length} assignments for ${m.shardCount} shards`,
  );
  check(isNum(m.deadline), 'round manifest: deadline must be a time');
  checkCodecSettings(m.codec, 'round manifest');
  for (const field of ['delta', 'secondMoment'] as const)
    check(
      m[field] === undefined || (typeof m[field] === 'object' && m[field] !== null),
      `round manifest: ${field} must be a signed document`,
    );
  check(isNum(m.maxNorm) && m.maxNorm > 0, 'round manifest: maxNorm must be positive');
  const ledger = m.ledger as Record<string, unknown> | undefined;
  check(
    ledger && isInt(ledger.receipts) && isSha256Hex(ledger.head),
    'round manifest: ledger must give the receipts count and the head hash',
  );
  return value as RoundManifest;
}

export function parseReceipt(value: unknown): Receipt {
  check(typeof value === 'object' && value !== null, 'receipt: not an object');
  const r = value as Record<string, unknown>;
  check(r.kind === 'vgpu/receipt' && (r.version === 2 || r.version === 3), 'receipt: unknown kind/version');
  const optional = (k: string) => r[k] === undefined || (isNum(r[k]) && (r[k] as number) >= 0);
  check(
    (r.version === 2 || isNum(r.flops)) && ['flops', 'gpuSeconds', 'estimatedWh', 'gCO2'].every(optional),
    'receipt: flops and the impact figures must be non-negative numbers',
  );
  check(
    r.adapter === undefined || ADAPTER_CLASSES.includes(r.adapter as AdapterClass),
    'receipt: unknown adapter class',
  );
  check(
    isInt(r.round) && typeof r.peer === 'string' && isInt(r.tokens),
    'receipt: round, peer and tokens are required',
  );
  check(
    isInt(r.index) && isSha256Hex(r.prev),
    "receipt: its ledger index and the previous receipt's hash are required",
  );
  check(isSha256Hex(r.update) && isInt(r.bytes) && isNum(r.at), 'receipt: update hash, bytes and time are required');
  return value as Receipt;
}

export const signRoundManifest = (key: PrivateKey, signer: PeerId, m: RoundManifest) => signDocument(key, signer, m);
export const verifyRoundManifest = (doc: unknown, seed: PeerId | string): Promise<VerifiedDocument<RoundManifest>> =>
  verifyDocument(doc, seed, parseRoundManifest);
export const signReceipt = (key: PrivateKey, signer: PeerId, r: Receipt) => signDocument(key, signer, r);
export const verifyReceipt = (doc: unknown, seed: PeerId | string): Promise<VerifiedDocument<Receipt>> =>
  verifyDocument(doc, seed, parseReceipt);

/** A receipt's link in the ledger's chain: the sha256 of its signed body (which holds its own `prev`). */
export const receiptHash = (signed: SignedDocument): Promise<string> => sha256Hex(utf8(signed.body));
