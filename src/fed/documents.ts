// The two signed documents of a federated run: the round manifest (what to train, on which
// weights and data, until when) and the receipt (what the seed did with a volunteer's update).

import type { PeerId, PrivateKey } from '@libp2p/interface';
import { isSha256Hex, type SignedDocument, signDocument, type VerifiedDocument, verifyDocument } from '../swarm';
import { MAX_BLOCK_SIZE } from './codec';

export interface CodecSettings {
  format: 'int8' | 'fp32';
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
}

export interface RoundManifest {
  kind: 'vgpu/round';
  version: 1;
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
}

export interface Receipt {
  kind: 'vgpu/receipt';
  version: 1;
  round: number;
  peer: string;
  tokens: number;
  accepted: boolean;
  /** Why it was rejected. */
  reason?: string;
  /** sha256 of the update bytes received, and their size. */
  update: string;
  bytes: number;
  at: number;
}

export class FedDocumentError extends Error {
  override name = 'FedDocumentError';
}

const isInt = (v: unknown, min = 0): v is number => Number.isInteger(v) && (v as number) >= min;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new FedDocumentError(what);
}

export function parseRoundManifest(value: unknown): RoundManifest {
  check(typeof value === 'object' && value !== null, 'round manifest: not an object');
  const m = value as Record<string, unknown>;
  check(
    m.kind === 'vgpu/round' && m.version === 1,
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
  const c = m.codec as Record<string, unknown> | undefined;
  check(
    c &&
      (c.format === 'int8' || c.format === 'fp32') &&
      isInt(c.blockSize, 1) &&
      isNum(c.density) &&
      c.density > 0 &&
      c.density <= 1,
    'round manifest: codec is invalid',
  );
  check(
    (c.blockSize as number) <= MAX_BLOCK_SIZE,
    `round manifest: codec.blockSize ${c.blockSize} is over ${MAX_BLOCK_SIZE}, the codec's largest`,
  );
  check(isNum(m.maxNorm) && m.maxNorm > 0, 'round manifest: maxNorm must be positive');
  return value as RoundManifest;
}

export function parseReceipt(value: unknown): Receipt {
  check(typeof value === 'object' && value !== null, 'receipt: not an object');
  const r = value as Record<string, unknown>;
  check(r.kind === 'vgpu/receipt' && r.version === 1, 'receipt: unknown kind/version');
  check(
    isInt(r.round) && typeof r.peer === 'string' && isInt(r.tokens) && typeof r.accepted === 'boolean',
    'receipt: round, peer, tokens and accepted are required',
  );
  check(r.reason === undefined || typeof r.reason === 'string', 'receipt: reason must be text');
  check(isSha256Hex(r.update) && isInt(r.bytes) && isNum(r.at), 'receipt: update hash, bytes and time are required');
  return value as Receipt;
}

export const signRoundManifest = (key: PrivateKey, signer: PeerId, m: RoundManifest) => signDocument(key, signer, m);
export const verifyRoundManifest = (doc: unknown, seed: PeerId | string): Promise<VerifiedDocument<RoundManifest>> =>
  verifyDocument(doc, seed, parseRoundManifest);
export const signReceipt = (key: PrivateKey, signer: PeerId, r: Receipt) => signDocument(key, signer, r);
export const verifyReceipt = (doc: unknown, seed: PeerId | string): Promise<VerifiedDocument<Receipt>> =>
  verifyDocument(doc, seed, parseReceipt);
