// `npm run verify-receipts -- <credits.json> [--seed <peerId>] [--ledger <ledger.jsonl> [--round <round.json>]...]`:
// checks a credits file exported by the volunteer page (every receipt signed by the seed, every
// receipt for the file's volunteer, each counted once, none conflicting) and prints what it proves.
// Without --seed the receipts are checked against the seed the file names, which proves they are
// consistent, not that they come from the seed you trust: pass its peer id. With --ledger (the
// seed's /ledger.jsonl) it audits the whole chain, checks that every receipt of the file is in it,
// and that each --round (a signed round manifest, e.g. a saved /round.json) names a root of this
// chain; it prints the ledger's totals for the volunteer. Exit code 0 when all verifies, 1 otherwise.
import '../src/seed/promise-shim';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { peerIdFromString } from '@libp2p/peer-id';
import {
  auditLedger,
  type CreditsFile,
  parseCreditsFile,
  receiptHash,
  verifyCreditsFile,
  verifyRoundManifest,
} from '../src/fed';
import type { Printer } from '../src/util/printer';

const USAGE =
  'usage: verify-receipts <credits.json> [--seed <peerId>] [--ledger <ledger.jsonl> [--round <round.json>]...]';

/** The text of the file at `path`, or an error naming it. */
function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** The credits file at `path`, parsed and its shape checked. */
function readCreditsFile(path: string): CreditsFile {
  const text = readText(path);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${(e as Error).message}`);
  }
  return parseCreditsFile(value);
}

/** The command itself: prints what the file proves (or why it does not verify) and returns the exit code. */
export async function verifyReceiptsCommand(argv: string[], print: Printer = console): Promise<number> {
  const parse = () =>
    parseArgs({
      args: argv,
      options: {
        seed: { type: 'string' },
        ledger: { type: 'string' },
        round: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
    });
  let args: ReturnType<typeof parse>;
  try {
    args = parse();
  } catch (e) {
    print.error(`verify-receipts: ${(e as Error).message}\n${USAGE}`);
    return 1;
  }
  if (args.values.help) {
    print.log(USAGE);
    return 0;
  }
  if (args.positionals.length !== 1) {
    print.error(`verify-receipts: expected one credits file, got ${args.positionals.length}\n${USAGE}`);
    return 1;
  }
  const path = args.positionals[0]!;
  const expectedSeed = args.values.seed;
  if (expectedSeed !== undefined) {
    try {
      peerIdFromString(expectedSeed);
    } catch {
      print.error(`verify-receipts: --seed ${expectedSeed} is not a peer id`);
      return 1;
    }
  }
  try {
    const file = readCreditsFile(path);
    const seed = expectedSeed ?? file.seed.peerId;
    const s = await verifyCreditsFile(file, seed);
    print.log(`${path}: verified`);
    print.log(
      `  seed:       ${seed}${expectedSeed === undefined ? ' (as the file names it; pass --seed <peerId> to check it is the seed you expect)' : ''}`,
    );
    print.log(`  volunteer:  ${file.volunteer}`);
    print.log(
      `  rounds:     ${s.rounds} credited${s.duplicates ? ` (${s.duplicates} duplicate receipts counted once)` : ''}`,
    );
    print.log(`  tokens:     ${s.tokens} in credited updates`);
    print.log(
      `  credits:    ${s.credits.toFixed(2)} (${(s.flops / 1e9).toFixed(2)} GFLOP of verified training; 1 credit = 1 GFLOP)`,
    );
    if (s.gpuSeconds > 0)
      print.log(
        `  impact:     ${s.gpuSeconds.toFixed(0)} s of GPU time, an estimated ${s.estimatedWh.toFixed(2)} Wh${s.gCO2 > 0 ? ` and ${s.gCO2.toFixed(1)} gCO₂` : ''} (estimates: README, "Impact figures")`,
      );
    if (args.values.ledger !== undefined) {
      const rounds = await Promise.all(
        (args.values.round ?? []).map(async (p) => {
          const doc = JSON.parse(readText(p)) as unknown;
          return (
            await verifyRoundManifest(doc, seed).catch((e: Error) => {
              throw new Error(`${p}: ${e.message}`);
            })
          ).value;
        }),
      );
      const audit = await auditLedger(readText(args.values.ledger).split('\n'), seed, rounds);
      const inLedger = new Set(audit.hashes);
      for (const [i, doc] of file.receipts.entries())
        if (!inLedger.has(await receiptHash(doc))) throw new Error(`receipt ${i} is not in the ledger`);
      const totals = audit.volunteers.get(file.volunteer);
      print.log(`  ledger:     ${audit.receipts} receipts, chain intact, ${rounds.length} signed root(s) match`);
      print.log(`  in ledger:  ${totals?.rounds ?? 0} rounds, ${totals?.tokens ?? 0} tokens for this volunteer`);
    }
    return 0;
  } catch (e) {
    print.error(`verify-receipts: ${path}: ${(e as Error).message}`);
    return 1;
  }
}

// Run as a script (npm run verify-receipts), not when a test imports the command.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await verifyReceiptsCommand(process.argv.slice(2));
}
