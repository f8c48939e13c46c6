// The volunteer's credits file (src/fed/credits.ts): receipts signed with a real Ed25519 seed key
// verify to the right summary (one credit per 1,000 accepted tokens); a tampered receipt, one for
// another volunteer, one signed by another key and a document of the wrong kind are each refused,
// naming the receipt's index. And scripts/verify-receipts.ts, the CLI that checks an exported file.
import '../../src/seed/promise-shim';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import { verifyReceiptsCommand } from '../../scripts/verify-receipts';
import {
  type CreditsFile,
  type Receipt,
  signReceipt,
  summariseReceipts,
  TOKENS_PER_CREDIT,
  verifyCreditsFile,
} from '../../src/fed';
import { type SignedDocument, signDocument } from '../../src/swarm';
import { toBase64 } from '../../src/swarm/bytes';

let seedKey: PrivateKey;
let seed: PeerId;
let otherKey: PrivateKey;
let other: PeerId;
let volunteer: PeerId;
let stranger: PeerId;

test.beforeAll(async () => {
  seedKey = await generateKeyPair('Ed25519');
  seed = peerIdFromPrivateKey(seedKey);
  otherKey = await generateKeyPair('Ed25519');
  other = peerIdFromPrivateKey(otherKey);
  volunteer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
});

function receipt(round: number, tokens: number, accepted: boolean, peer = volunteer.toString()): Receipt {
  return {
    kind: 'vgpu/receipt',
    version: 1,
    round,
    peer,
    tokens,
    accepted,
    ...(accepted ? {} : { reason: 'update norm over the limit' }),
    update: 'ab'.repeat(32),
    bytes: 4096,
    at: 1_700_000_000_000 + round,
  };
}

/** Rounds 0..3: 1,500 + 2,600 + 999 accepted tokens (5,099: 5 credits), 4,000 rejected. */
const RECEIPTS = (): Receipt[] => [
  receipt(0, 1500, true),
  receipt(1, 4000, false),
  receipt(2, 2600, true),
  receipt(3, 999, true),
];

function creditsFile(receipts: SignedDocument[]): CreditsFile {
  return {
    kind: 'vgpu/credits',
    version: 1,
    seed: {
      peerId: seed.toString(),
      publicKey: toBase64(publicKeyToProtobuf(seedKey.publicKey)),
      url: 'http://127.0.0.1:8080',
    },
    volunteer: volunteer.toString(),
    receipts,
  };
}

const signAll = (rs: Receipt[]) => Promise.all(rs.map((r) => signReceipt(seedKey, seed, r)));

/** A copy of `doc` whose body says `tokens` instead, the signature left as it was. */
function tamperTokens(doc: SignedDocument, tokens: number): SignedDocument {
  const body = JSON.parse(doc.body) as Receipt;
  return { ...doc, body: JSON.stringify({ ...body, tokens }) };
}

test('summariseReceipts counts accepted rounds and tokens; credits are floor(accepted tokens / 1000)', () => {
  expect(TOKENS_PER_CREDIT).toBe(1000);
  expect(summariseReceipts([])).toEqual({ rounds: 0, acceptedRounds: 0, tokens: 0, credits: 0 });
  expect(summariseReceipts([{ accepted: true, tokens: 999 }])).toEqual({
    rounds: 1,
    acceptedRounds: 1,
    tokens: 999,
    credits: 0,
  });
  expect(summariseReceipts([{ accepted: true, tokens: 1000 }])).toEqual({
    rounds: 1,
    acceptedRounds: 1,
    tokens: 1000,
    credits: 1,
  });
  expect(
    summariseReceipts([
      { accepted: false, tokens: 5000 },
      { accepted: true, tokens: 1999 },
    ]),
  ).toEqual({ rounds: 2, acceptedRounds: 1, tokens: 1999, credits: 1 });
});

test("a file of receipts signed by the seed verifies to its summary, against the file's seed or the one given", async () => {
  const file = creditsFile(await signAll(RECEIPTS()));
  const expected = { rounds: 4, acceptedRounds: 3, tokens: 1500 + 2600 + 999, credits: 5 };
  expect(await verifyCreditsFile(file)).toEqual(expected);
  expect(await verifyCreditsFile(file, seed.toString())).toEqual(expected);
  // Through JSON, as the page exports it and the CLI reads it.
  expect(await verifyCreditsFile(JSON.parse(JSON.stringify(file)) as CreditsFile, seed.toString())).toEqual(expected);
  expect(await verifyCreditsFile(creditsFile([]))).toEqual({ rounds: 0, acceptedRounds: 0, tokens: 0, credits: 0 });
});

test('checked against another seed, the first receipt is refused', async () => {
  const file = creditsFile(await signAll(RECEIPTS()));
  await expect(verifyCreditsFile(file, other.toString())).rejects.toThrow(
    `receipt 0: signed document: signed by ${seed.toString()}, expected ${other.toString()}`,
  );
});

test('a tampered receipt is refused, naming its index', async () => {
  const signed = await signAll(RECEIPTS());
  signed[2] = tamperTokens(signed[2]!, 260_000);
  await expect(verifyCreditsFile(creditsFile(signed))).rejects.toThrow('receipt 2: signed document: bad signature');
  // Turning a rejected round into an accepted one is tampering too.
  const flipped = await signAll(RECEIPTS());
  flipped[1] = { ...flipped[1]!, body: flipped[1]!.body.replace('"accepted":false', '"accepted":true') };
  expect(flipped[1]!.body).toContain('"accepted":true');
  await expect(verifyCreditsFile(creditsFile(flipped))).rejects.toThrow('receipt 1: signed document: bad signature');
});

test('a receipt for another volunteer is refused, naming its index and the peer', async () => {
  const rs = RECEIPTS();
  rs[3] = receipt(3, 999, true, stranger.toString());
  await expect(verifyCreditsFile(creditsFile(await signAll(rs)))).rejects.toThrow(
    `receipt 3 names peer ${stranger.toString()}, not ${volunteer.toString()}`,
  );
});

test('a receipt signed by another key is refused, naming its index', async () => {
  const signed = await signAll(RECEIPTS());
  // Signed by another peer under its own name...
  signed[1] = await signReceipt(otherKey, other, receipt(1, 4000, true));
  await expect(verifyCreditsFile(creditsFile(signed))).rejects.toThrow(
    `receipt 1: signed document: signed by ${other.toString()}, expected ${seed.toString()}`,
  );
  // ...or under the seed's name: the signature does not hold.
  signed[1] = await signReceipt(otherKey, seed, receipt(1, 4000, true));
  await expect(verifyCreditsFile(creditsFile(signed))).rejects.toThrow('receipt 1: signed document: bad signature');
});

test('a signed document of the wrong kind, or a receipt of another version, is refused, naming its index', async () => {
  const signed = await signAll(RECEIPTS());
  signed[2] = await signDocument(seedKey, seed, { ...receipt(2, 2600, true), kind: 'vgpu/round' });
  await expect(verifyCreditsFile(creditsFile(signed))).rejects.toThrow('receipt 2: receipt: unknown kind/version');
  signed[2] = await signDocument(seedKey, seed, { ...receipt(2, 2600, true), version: 2 });
  await expect(verifyCreditsFile(creditsFile(signed))).rejects.toThrow('receipt 2: receipt: unknown kind/version');
  signed[2] = await signDocument(seedKey, seed, { ...receipt(2, 2600, true), tokens: -5 });
  await expect(verifyCreditsFile(creditsFile(signed))).rejects.toThrow(
    'receipt 2: receipt: round, peer, tokens and accepted are required',
  );
});

test('a file of the wrong kind or version is refused', async () => {
  const file = creditsFile(await signAll(RECEIPTS()));
  const wrongKind = { ...file, kind: 'vgpu/receipts' } as unknown as CreditsFile;
  const wrongVersion = { ...file, version: 2 } as unknown as CreditsFile;
  await expect(verifyCreditsFile(wrongKind)).rejects.toThrow('not a vgpu credits file');
  await expect(verifyCreditsFile(wrongVersion)).rejects.toThrow('not a vgpu credits file');
});

test.describe('scripts/verify-receipts.ts', () => {
  const ROOT = fileURLToPath(new URL('../..', import.meta.url));
  let dir: string;

  test.beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vgpu-credits-'));
  });
  test.afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs the command in this process, capturing what it prints. */
  async function cli(...args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const status = await verifyReceiptsCommand(args, {
      log: (line) => void out.push(`${line}\n`),
      error: (line) => void err.push(`${line}\n`),
    });
    return { status, stdout: out.join(''), stderr: err.join('') };
  }

  /** Runs the CLI as `npm run verify-receipts` does (tsx), here through node's --import hook. */
  function spawnCli(...args: string[]) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/verify-receipts.ts', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  async function write(name: string, value: unknown): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
    return path;
  }

  test('a good file prints its summary and exits 0, with or without --seed (the first run as its own process)', async () => {
    const path = await write('good.json', creditsFile(await signAll(RECEIPTS())));
    const plain = spawnCli(path);
    expect(plain.stderr).toBe('');
    expect(plain.status).toBe(0);
    expect(plain.stdout).toContain(`${path}: verified`);
    expect(plain.stdout).toMatch(/rounds: +4 \(3 accepted\)/);
    expect(plain.stdout).toMatch(/tokens: +5099 in accepted updates/);
    expect(plain.stdout).toMatch(/credits: +5\n/);
    expect(plain.stdout).toContain('pass --seed <peerId>');
    const checked = await cli(path, '--seed', seed.toString());
    expect(checked.status).toBe(0);
    expect(checked.stdout).toMatch(/credits: +5\n/);
    expect(checked.stdout).not.toContain('pass --seed');
  });

  test('a bad file prints the error and exits 1', async () => {
    const signed = await signAll(RECEIPTS());
    signed[2] = tamperTokens(signed[2]!, 260_000);
    const tampered = await cli(await write('tampered.json', creditsFile(signed)));
    expect(tampered.status).toBe(1);
    expect(tampered.stdout).toBe('');
    expect(tampered.stderr).toContain('receipt 2: signed document: bad signature');

    const good = await write('good-other-seed.json', creditsFile(await signAll(RECEIPTS())));
    const wrongSeed = await cli(good, '--seed', other.toString());
    expect(wrongSeed.status).toBe(1);
    expect(wrongSeed.stderr).toContain(
      `receipt 0: signed document: signed by ${seed.toString()}, expected ${other.toString()}`,
    );

    const notJson = await cli(await write('not.json', '{"kind": "vgpu/cre'));
    expect(notJson.status).toBe(1);
    expect(notJson.stderr).toContain('not JSON');
    const notCredits = await cli(await write('receipt.json', signed[0]));
    expect(notCredits.status).toBe(1);
    expect(notCredits.stderr).toContain('not a vgpu credits file');
    const noReceipts = await cli(await write('no-receipts.json', { ...creditsFile([]), receipts: undefined }));
    expect(noReceipts.status).toBe(1);
    expect(noReceipts.stderr).toContain('receipts must be an array');
  });

  test('bad arguments print the usage and exit 1', async () => {
    const missing = await cli();
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('usage: verify-receipts <credits.json> [--seed <peerId>]');
    expect((await cli(join(dir, 'absent.json'))).stderr).toContain('cannot read the file');
    const badSeed = await cli(await write('any.json', creditsFile([])), '--seed', 'not-a-peer-id');
    expect(badSeed.status).toBe(1);
    expect(badSeed.stderr).toContain('--seed not-a-peer-id is not a peer id');
    const unknown = await cli('x.json', '--sead', 'y');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain("Unknown option '--sead'");
  });
});
