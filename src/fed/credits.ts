// The volunteer's contribution as a file anyone can check: the seed's identity and every receipt
// it signed for this tab. Verifying needs nothing but the file (a receipt's signer is the seed's
// peer id, which embeds its public key) and, to be sure it is the right seed, that peer id.
import type { SignedDocument } from '../swarm';
import { type Receipt, verifyReceipt } from './documents';

export interface CreditsFile {
  kind: 'vgpu/credits';
  version: 1;
  seed: { peerId: string; publicKey: string; url: string };
  volunteer: string;
  receipts: SignedDocument[];
}

export interface CreditsSummary {
  rounds: number;
  acceptedRounds: number;
  tokens: number;
  /** One credit per 1,000 training tokens of accepted updates. */
  credits: number;
}

export const TOKENS_PER_CREDIT = 1000;

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

export function summariseReceipts(receipts: Pick<Receipt, 'accepted' | 'tokens'>[]): CreditsSummary {
  const accepted = receipts.filter((r) => r.accepted);
  const tokens = accepted.reduce((n, r) => n + r.tokens, 0);
  return {
    rounds: receipts.length,
    acceptedRounds: accepted.length,
    tokens,
    credits: Math.floor(tokens / TOKENS_PER_CREDIT),
  };
}

/**
 * Checks every receipt's signature against `seedPeerId` and that it names `file.volunteer`;
 * returns the summary of what they prove. Throws on the first bad one, saying which.
 */
export async function verifyCreditsFile(file: CreditsFile, seedPeerId = file.seed.peerId): Promise<CreditsSummary> {
  parseCreditsFile(file);
  const receipts: Receipt[] = [];
  for (const [i, doc] of file.receipts.entries()) {
    const r = (
      await verifyReceipt(doc, seedPeerId).catch((e: Error) => {
        throw new Error(`receipt ${i}: ${e.message}`);
      })
    ).value;
    if (r.peer !== file.volunteer) throw new Error(`receipt ${i} names peer ${r.peer}, not ${file.volunteer}`);
    receipts.push(r);
  }
  return summariseReceipts(receipts);
}
