// `npm run verify-receipts -- <credits.json> [--seed <peerId>]`: checks a credits file exported by
// the volunteer page (every receipt signed by the seed, every receipt for the file's volunteer) and
// prints what it proves. Without --seed the receipts are checked against the seed the file names,
// which proves they are consistent, not that they come from the seed you trust: pass its peer id.
// Exit code 0 when the file verifies, 1 otherwise.
import '../src/seed/promise-shim';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { peerIdFromString } from '@libp2p/peer-id';
import { type CreditsFile, parseCreditsFile, verifyCreditsFile } from '../src/fed';

const USAGE = 'usage: verify-receipts <credits.json> [--seed <peerId>]';

/** The credits file at `path`, parsed and its shape checked. */
function readCreditsFile(path: string): CreditsFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the file: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${(e as Error).message}`);
  }
  return parseCreditsFile(value);
}

/** Where the command prints: the console, or a test's capture. */
export interface Printer {
  log(line: string): void;
  error(line: string): void;
}

/** The command itself: prints what the file proves (or why it does not verify) and returns the exit code. */
export async function verifyReceiptsCommand(argv: string[], print: Printer = console): Promise<number> {
  const parse = () =>
    parseArgs({
      args: argv,
      options: { seed: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
    print.log(`  rounds:     ${s.rounds} (${s.acceptedRounds} accepted)`);
    print.log(`  tokens:     ${s.tokens} in accepted updates`);
    print.log(`  credits:    ${s.credits}`);
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
