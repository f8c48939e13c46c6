// The receipts ledger: every receipt the seed signs, one JSON line each, appended and fsynced before
// the receipt goes out (a volunteer never holds a receipt the ledger lacks). The receipts form a hash
// chain (each names its index and the hash of the one before), whose root every round manifest
// carries, so the ledger served at /ledger.jsonl can be audited offline. Append-only and never held in
// memory: the seed keeps only the root, the receipts of the last RECENT_ROUNDS_KEPT rounds (for
// volunteers to fetch, and to issue a round's receipts at most once), and each credited volunteer's
// totals (for the dashboard's top contributors: one entry per volunteer whose work was verified, as
// the checkpoint's volunteer records already hold).
import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import {
  GENESIS_HASH,
  type LedgerRoot,
  type Receipt,
  type ReceiptEntry,
  type RecentByRound,
  receiptHash,
  recentByRound,
  signReceipt,
} from '../fed';
import type { SignedDocument } from '../swarm';
import { appendDurable, readIfExists } from './files';

export const LEDGER_FILE = 'ledger.jsonl';

export interface Ledger {
  /** Receipts so far and the hash of the last one. */
  root(): LedgerRoot;
  /**
   * Chains, signs and appends one receipt per entry (all of one round), in order, skipping every
   * (peer, round) the ledger already holds: a restart that issues a closed round's receipts again
   * adds none twice. Returns the receipts appended. On a failed write the ledger stays whole (the
   * partial line is cut off) and what was appended before it stays.
   */
  issue(entries: ReceiptEntry[]): Promise<SignedDocument[]>;
  /** `peer`'s receipts of rounds `since` and later, among the last RECENT_ROUNDS_KEPT rounds'. */
  recent(peer: string, since: number): SignedDocument[];
  /** The `count` volunteers credited the most tokens over the whole ledger, most first. */
  topContributors(count: number): Contribution[];
}

/** What the ledger credits one volunteer with. */
export interface Contribution {
  peer: string;
  /** Verified training tokens: the sum of its receipts'. */
  tokens: number;
  /** Rounds credited: its receipts. */
  rounds: number;
}

/** The chain's state: what the ledger holds, as far as issuing the next receipts needs. */
interface ChainState {
  count: number;
  head: string;
  /** The receipts of the newest RECENT_ROUNDS_KEPT rounds. */
  recent: RecentByRound<SignedDocument>;
  lastRound: number;
  /** Every credited volunteer's totals, by peer. */
  totals: Map<string, Contribution>;
}

function emptyChain(): ChainState {
  return { count: 0, head: GENESIS_HASH, recent: recentByRound(), lastRound: -1, totals: new Map() };
}

/** Keeps `signed` (of `r`) among the recent receipts, and counts it into its volunteer's totals. */
function keep(c: ChainState, r: Receipt, signed: SignedDocument): void {
  c.recent.set(r.round, r.peer, signed);
  c.lastRound = Math.max(c.lastRound, r.round);
  const total = c.totals.get(r.peer) ?? { peer: r.peer, tokens: 0, rounds: 0 };
  c.totals.set(r.peer, { ...total, tokens: total.tokens + r.tokens, rounds: total.rounds + 1 });
}

/**
 * A ledger from its state: `append` makes one signed receipt's line durable (or throws, leaving
 * nothing of it behind).
 */
function ledgerFrom(key: PrivateKey, c: ChainState, append: (line: string) => Promise<void>): Ledger {
  const signer = peerIdFromPrivateKey(key);
  /** The totals sorted, most tokens first, as of `count` receipts: sorted again only once receipts came. */
  let ranked = { count: -1, contributions: [] as Contribution[] };
  return {
    root: () => ({ receipts: c.count, head: c.head }),
    async issue(entries) {
      const issued: SignedDocument[] = [];
      for (const entry of entries) {
        if (entry.round < c.lastRound || c.recent.has(entry.round, entry.peer)) continue;
        const receipt: Receipt = { kind: 'vgpu/receipt', version: 3, ...entry, index: c.count, prev: c.head };
        const signed = await signReceipt(key, signer, receipt);
        await append(`${JSON.stringify(signed)}\n`);
        c.count++;
        c.head = await receiptHash(signed);
        keep(c, receipt, signed);
        issued.push(signed);
      }
      return issued;
    },
    recent: (peer, since) => c.recent.since(peer, since).map(({ value }) => value),
    topContributors(count) {
      if (ranked.count !== c.count)
        ranked = { count: c.count, contributions: [...c.totals.values()].sort((a, b) => b.tokens - a.tokens) };
      return ranked.contributions.slice(0, count);
    },
  };
}

/** A ledger in memory only (benchmarks: the same chain and receipts, nothing written). */
export function memoryLedger(key: PrivateKey): Ledger {
  return ledgerFrom(key, emptyChain(), async () => {});
}

/**
 * Opens the run's ledger and checks its chain. A last line cut short (a crash mid-append: its receipt
 * never went out) is cut off; any other damaged line, or a broken chain, is refused.
 */
export async function openLedger(runDir: string, key: PrivateKey): Promise<Ledger> {
  const path = join(runDir, LEDGER_FILE);
  const bytes = (await readIfExists(path)) ?? Buffer.alloc(0);
  const end = bytes.lastIndexOf(0x0a) + 1; // after the last complete line
  if (end < bytes.length) await truncate(path, end);
  const lines = bytes.subarray(0, end).toString('utf8').split('\n').slice(0, -1);
  const chain = emptyChain();
  const damaged = (i: number, why: string) =>
    new Error(`${path}: line ${i + 1} ${why}; the ledger is damaged (restore it from a backup)`);
  for (const [i, line] of lines.entries()) {
    let signed: SignedDocument;
    let r: Receipt;
    try {
      signed = JSON.parse(line) as SignedDocument;
      r = JSON.parse(signed.body) as Receipt;
    } catch {
      throw damaged(i, 'is not a signed receipt');
    }
    if (r.index !== i || r.prev !== chain.head)
      throw damaged(i, 'breaks the chain (its index or previous hash is wrong)');
    chain.count++;
    chain.head = await receiptHash(signed);
    keep(chain, r, signed);
  }
  let size = end;
  return ledgerFrom(key, chain, async (line) => {
    try {
      await appendDurable(path, line);
    } catch (e) {
      // A full disk may have taken part of the line: cut it off, so the ledger stays whole.
      await truncate(path, size).catch(() => {});
      throw e;
    }
    size += Buffer.byteLength(line);
  });
}
