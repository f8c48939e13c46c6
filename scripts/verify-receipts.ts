// `npm run verify-receipts -- <credits.json> [--seed <peerId>]`: checks a credits file exported by
// the volunteer page (every receipt signed by the seed, every receipt for the file's volunteer) and
// prints what it proves. Without --seed the receipts are checked against the seed the file names,
// which proves they are consistent, not that they come from the seed you trust: pass its peer id.
// Exit code 0 when the file verifies, 1 otherwise.
import '../src/seed/promise-shim';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { peerIdFromString } from '@libp2p/peer-id';
import { type CreditsFile, verifyCreditsFile } from '../src/ui/credits';

const USAGE = 'usage: verify-receipts <credits.json> [--seed <peerId>]';

/** The file's shape, checked before its signatures so a wrong file fails with a clear message. */
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

async function main(argv: string[]): Promise<number> {
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
    console.error(`verify-receipts: ${(e as Error).message}\n${USAGE}`);
    return 1;
  }
  if (args.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (args.positionals.length !== 1) {
    console.error(`verify-receipts: expected one credits file, got ${args.positionals.length}\n${USAGE}`);
    return 1;
  }
  const path = args.positionals[0]!;
  const expectedSeed = args.values.seed;
  if (expectedSeed !== undefined) {
    try {
      peerIdFromString(expectedSeed);
    } catch {
      console.error(`verify-receipts: --seed ${expectedSeed} is not a peer id`);
      return 1;
    }
  }
  try {
    const file = readCreditsFile(path);
    const seed = expectedSeed ?? file.seed.peerId;
    const s = await verifyCreditsFile(file, seed);
    console.log(`${path}: verified`);
    console.log(
      `  seed:       ${seed}${expectedSeed === undefined ? ' (as the file names it; pass --seed <peerId> to check it is the seed you expect)' : ''}`,
    );
    console.log(`  volunteer:  ${file.volunteer}`);
    console.log(`  rounds:     ${s.rounds} (${s.acceptedRounds} accepted)`);
    console.log(`  tokens:     ${s.tokens} in accepted updates`);
    console.log(`  credits:    ${s.credits}`);
    return 0;
  } catch (e) {
    console.error(`verify-receipts: ${path}: ${(e as Error).message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
