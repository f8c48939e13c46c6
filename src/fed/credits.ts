// The volunteer's contribution as a file anyone can check: the seed's identity and every receipt
// it signed for this tab. Verifying needs nothing but the file (a receipt's signer is the seed's
// peer id, which embeds its public key) and, to be sure it is the right seed, that peer id. A receipt
// pasted twice counts once; two different receipts for one round (or one ledger position) are a
// conflict and fail the file. With the seed's ledger (/ledger.jsonl) and signed round manifests, the
// audit checks the whole chain, every volunteer's totals, and that the roots the seed signed match.
import type { SignedDocument } from '../swarm';
import { GENESIS_HASH, type Receipt, type RoundManifest, receiptHash, verifyReceipt } from './documents';
import { creditsOf } from './impact';

export interface CreditsFile {
  kind: 'vgpu/credits';
  version: 1;
  seed: { peerId: string; publicKey: string; url: string };
  volunteer: string;
  receipts: SignedDocument[];
}

export interface CreditsSummary {
  /** Rounds credited (distinct receipts). */
  rounds: number;
  tokens: number;
  /** Verified training FLOPs of credited rounds (receipts of version 2, which predate them, count none). */
  flops: number;
  /** One credit per GFLOP of verified work (impact.ts's FLOPS_PER_CREDIT). */
  credits: number;
  /** The impact figures the receipts carry, summed: estimates, labelled as such where shown. */
  gpuSeconds: number;
  estimatedWh: number;
  gCO2: number;
  /** Receipts that were copies of one already counted. */
  duplicates: number;
}

/** The file's shape, checked before its signatures so that a wrong file fails with a clear message. */
export function parseCreditsFile(value: unknown): CreditsFile {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a vgpu credits file');
  const f = value as Record<string, unknown>;
  if (f.kind !== 'vgpu/credits' || f.version !== 1) throw new Error('not a vgpu credits file');
  const seed = f.seed as Record<string, unknown> | undefined;
  if (typeof seed !== 'object' || seed === null || typeof seed.peerId !== 'string')
    throw new Error('the file names no seed peer id');
  if (typeof f.volunteer !== 'string' || f.volunteer === '') throw new Error('the file names no volunteer');
  if (!Array.isArray(f.receipts)) throw new Error('receipts must be an array');
  return value as CreditsFile;
}

type Counted = Pick<Receipt, 'tokens' | 'flops' | 'gpuSeconds' | 'estimatedWh' | 'gCO2'>;

export function summariseReceipts(receipts: Counted[], duplicates = 0): CreditsSummary {
  const sum = (pick: (r: Counted) => number | undefined) => receipts.reduce((n, r) => n + (pick(r) ?? 0), 0);
  const flops = sum((r) => r.flops);
  return {
    rounds: receipts.length,
    tokens: sum((r) => r.tokens),
    flops,
    credits: creditsOf(flops),
    gpuSeconds: sum((r) => r.gpuSeconds),
    estimatedWh: sum((r) => r.estimatedWh),
    gCO2: sum((r) => r.gCO2),
    duplicates,
  };
}

/** Two receipts that cannot both be true: one round credited twice, or one ledger position twice. */
export class ConflictingReceiptsError extends Error {
  override name = 'ConflictingReceiptsError';
}

/**
 * Checks every receipt's signature against `seedPeerId` and that it names `file.volunteer`; counts
 * each distinct receipt once; returns the summary of what they prove. Throws on the first bad one,
 * saying which, and on conflicting ones (ConflictingReceiptsError).
 */
export async function verifyCreditsFile(file: CreditsFile, seedPeerId = file.seed.peerId): Promise<CreditsSummary> {
  parseCreditsFile(file);
  const byHash = new Map<string, Receipt>();
  const byRound = new Map<number, number>();
  const byIndex = new Map<number, number>();
  let duplicates = 0;
  for (const [i, doc] of file.receipts.entries()) {
    const r = (
      await verifyReceipt(doc, seedPeerId).catch((e: Error) => {
        throw new Error(`receipt ${i}: ${e.message}`);
      })
    ).value;
    if (r.peer !== file.volunteer) throw new Error(`receipt ${i} names peer ${r.peer}, not ${file.volunteer}`);
    const hash = await receiptHash(doc);
    if (byHash.has(hash)) {
      duplicates++;
      continue;
    }
    const sameRound = byRound.get(r.round);
    if (sameRound !== undefined)
      throw new ConflictingReceiptsError(`receipts ${sameRound} and ${i} both credit round ${r.round}`);
    const sameIndex = byIndex.get(r.index);
    if (sameIndex !== undefined)
      throw new ConflictingReceiptsError(`receipts ${sameIndex} and ${i} both claim ledger position ${r.index}`);
    byHash.set(hash, r);
    byRound.set(r.round, i);
    byIndex.set(r.index, i);
  }
  return summariseReceipts([...byHash.values()], duplicates);
}

export interface LedgerAudit {
  receipts: number;
  head: string;
  /** Volunteer peer id -> what the ledger credits it with. */
  volunteers: Map<string, CreditsSummary>;
  /** sha256 of every receipt's body, by ledger index (to check a credits file's receipts are in it). */
  hashes: string[];
}

/**
 * Audits a seed's ledger (its lines, in order): every receipt signed by `seedPeerId`, indexed in
 * order and chained to the one before, at most one per (volunteer, round); and every signed round
 * manifest's ledger root (receipts so far, head hash) a point of this chain. Throws at the first
 * line or root that does not hold, saying which.
 */
export async function auditLedger(
  lines: Iterable<string>,
  seedPeerId: string,
  rounds: Pick<RoundManifest, 'round' | 'ledger'>[] = [],
): Promise<LedgerAudit> {
  const hashes: string[] = [];
  const volunteers = new Map<string, { rounds: Set<number>; receipts: Receipt[] }>();
  let head = GENESIS_HASH;
  for (const line of lines) {
    if (line === '') continue;
    const i = hashes.length;
    let doc: SignedDocument;
    try {
      doc = JSON.parse(line) as SignedDocument;
    } catch {
      throw new Error(`ledger line ${i + 1} is not JSON`);
    }
    const r = (
      await verifyReceipt(doc, seedPeerId).catch((e: Error) => {
        throw new Error(`ledger line ${i + 1}: ${e.message}`);
      })
    ).value;
    if (r.index !== i) throw new Error(`ledger line ${i + 1} says it is at index ${r.index}`);
    if (r.prev !== head) throw new Error(`ledger line ${i + 1} does not chain to the line before`);
    const v = volunteers.get(r.peer) ?? { rounds: new Set<number>(), receipts: [] };
    if (v.rounds.has(r.round))
      throw new ConflictingReceiptsError(`ledger line ${i + 1} credits ${r.peer} for round ${r.round} again`);
    v.rounds.add(r.round);
    v.receipts.push(r);
    volunteers.set(r.peer, v);
    head = await receiptHash(doc);
    hashes.push(head);
  }
  for (const m of rounds) {
    const { receipts, head: rootHead } = m.ledger;
    const atRoot = receipts === 0 ? GENESIS_HASH : hashes[receipts - 1];
    if (atRoot === undefined)
      throw new Error(`round ${m.round} names ${receipts} receipts; the ledger has only ${hashes.length}`);
    if (atRoot !== rootHead) throw new Error(`round ${m.round}'s ledger root does not match the ledger`);
  }
  const summaries = new Map([...volunteers].map(([peer, v]) => [peer, summariseReceipts(v.receipts)]));
  return { receipts: hashes.length, head, volunteers: summaries, hashes };
}
