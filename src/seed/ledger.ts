// The receipts ledger: every receipt the seed signs, one JSON line each, appended and fsynced
// before the receipt goes out (a volunteer never holds a receipt the ledger lacks). Append-only
// and never held in memory, so it grows with the run without limit on the seed's memory.
import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { SignedDocument } from '../swarm';
import { appendDurable, readIfExists } from './files';

export const LEDGER_FILE = 'ledger.jsonl';

export interface Ledger {
  append(receipt: SignedDocument): Promise<void>;
  /** Receipts in the ledger. */
  count(): number;
}

/**
 * Opens the run's ledger. A last line cut short (a crash mid-append: its receipt never went out)
 * is cut off; any other damaged line is refused.
 */
export async function openLedger(runDir: string): Promise<Ledger> {
  const path = join(runDir, LEDGER_FILE);
  const bytes = (await readIfExists(path)) ?? Buffer.alloc(0);
  const end = bytes.lastIndexOf(0x0a) + 1; // after the last complete line
  if (end < bytes.length) await truncate(path, end);
  const lines = bytes.subarray(0, end).toString('utf8').split('\n').slice(0, -1);
  for (const [i, line] of lines.entries()) {
    try {
      JSON.parse(line);
    } catch {
      throw new Error(`${path}: line ${i + 1} is not JSON; the ledger is damaged (restore it from a backup)`);
    }
  }
  let count = lines.length;
  let size = end;
  return {
    async append(receipt) {
      const line = `${JSON.stringify(receipt)}\n`;
      try {
        await appendDurable(path, line);
      } catch (e) {
        // A full disk may have taken part of the line: cut it off, so the ledger stays whole.
        await truncate(path, size).catch(() => {});
        throw e;
      }
      size += Buffer.byteLength(line);
      count++;
    },
    count: () => count,
  };
}
