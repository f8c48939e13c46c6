// The volunteer's credits file (src/fed/credits.ts): receipts issued into a real ledger with an
// Ed25519 seed key verify to the right summary (one credit per 1,000 credited tokens), each counted
// once; conflicting ones, a tampered receipt, one for another volunteer, one signed by another key
// and a document of the wrong kind are each refused, naming the receipt's index. The ledger audit
// checks the chain and the seed's signed roots. And scripts/verify-receipts.ts, the CLI.
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
  auditLedger,
  ConflictingReceiptsError,
  type CreditsFile,
  FLOPS_PER_CREDIT,
  GENESIS_HASH,
  type LedgerRoot,
  type Receipt,
  type RoundManifest,
  signReceipt,
  signRoundManifest,
  summariseReceipts,
  verifyCreditsFile,
} from '../../src/fed';
import { initParams, paramLayout } from '../../src/model';
import { type Ledger, memoryLedger } from '../../src/seed/ledger';
import { buildManifest, type SignedDocument, signDocument, signManifest, verifyManifest } from '../../src/swarm';
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

/** The seed's ledger in memory; each test issues its own. */
let ledger: Ledger;
/** Every receipt issued into `ledger`, in order: its lines. */
let issued: SignedDocument[];

/**
 * The volunteer's credited rounds 0, 2, 3 (1,500 + 2,600 + 999 tokens at 2 MFLOP a token: 10.198
 * credits; round 0 with impact figures), a stranger's between.
 */
async function issueRounds(): Promise<SignedDocument[]> {
  ledger = memoryLedger(seedKey);
  issued = [];
  const entry = (round: number, tokens: number, peer = volunteer.toString()) => ({
    round,
    peer,
    tokens,
    flops: tokens * FLOPS_PER_TOKEN,
    ...(round === 0 ? { gpuSeconds: 30, adapter: 'integrated' as const, estimatedWh: 0.125, gCO2: 0.05 } : {}),
    update: 'ab'.repeat(32),
    bytes: 4096,
    at: 1_700_000_000_000 + round,
  });
  for (const entries of [
    [entry(0, 1500)],
    [entry(1, 4000, stranger.toString())],
    [entry(2, 2600), entry(2, 700, stranger.toString())],
    [entry(3, 999)],
  ])
    issued.push(...(await ledger.issue(entries)));
  return issued.filter((d) => (JSON.parse(d.body) as Receipt).peer === volunteer.toString());
}

/** A receipt as the seed would sign it, outside its ledger (index and prev made up). */
function receipt(round: number, tokens: number, peer = volunteer.toString()): Receipt {
  return {
    kind: 'vgpu/receipt',
    version: 2,
    round,
    peer,
    tokens,
    update: 'ab'.repeat(32),
    bytes: 4096,
    at: 1_700_000_000_000 + round,
    index: 100 + round,
    prev: GENESIS_HASH,
  };
}

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

/** A signed round manifest of a tiny model whose ledger root is `ledgerRoot`. */
async function roundManifestWith(ledgerRoot: LedgerRoot): Promise<RoundManifest> {
  const cfg = { vocab: 16, context: 8, layers: 1, heads: 1, width: 8 };
  const weights = await signManifest(seedKey, seed, await buildManifest(initParams(paramLayout(cfg), 1), 'r', cfg));
  return {
    kind: 'vgpu/round',
    version: 2,
    round: 4,
    weights,
    weightsId: (await verifyManifest(weights, seed)).id,
    data: { train: 'aa'.repeat(32), validation: 'bb'.repeat(32) },
    hyper: { steps: 1, batchSize: 1, context: 8, lr: 1e-3, weightDecay: 0, dataSeed: 1 },
    shardCount: 8,
    assignments: {},
    deadline: 1_700_000_000_000,
    codec: { format: 'int8', blockSize: 256, density: 1 },
    maxNorm: 1,
    ledger: ledgerRoot,
  };
}

/** A copy of `doc` whose body says `tokens` instead, the signature left as it was. */
function tamperTokens(doc: SignedDocument, tokens: number): SignedDocument {
  const body = JSON.parse(doc.body) as Receipt;
  return { ...doc, body: JSON.stringify({ ...body, tokens }) };
}

/** Nominal training FLOPs per token the test's receipts carry. */
const FLOPS_PER_TOKEN = 2e6;
const TOKENS = 1500 + 2600 + 999;
const EXPECTED = {
  rounds: 3,
  tokens: TOKENS,
  flops: TOKENS * FLOPS_PER_TOKEN,
  credits: (TOKENS * FLOPS_PER_TOKEN) / 1e9,
  gpuSeconds: 30,
  estimatedWh: 0.125,
  gCO2: 0.05,
  duplicates: 0,
};

test('summariseReceipts sums rounds, tokens, FLOPs and the impact figures; a credit is a GFLOP of verified work', () => {
  expect(FLOPS_PER_CREDIT).toBe(1e9);
  const none = { rounds: 0, tokens: 0, flops: 0, credits: 0, gpuSeconds: 0, estimatedWh: 0, gCO2: 0, duplicates: 0 };
  expect(summariseReceipts([])).toEqual(none);
  // 768 tokens of a round credit their FLOPs: not 0 (the page once floored tokens / 1,000).
  expect(summariseReceipts([{ tokens: 768, flops: 768 * FLOPS_PER_TOKEN }]).credits).toBeCloseTo(1.536, 9);
  // A version-2 receipt (no FLOPs) counts its tokens and no credits.
  expect(
    summariseReceipts([{ tokens: 1000 }, { tokens: 999, flops: 5e8, gpuSeconds: 2, estimatedWh: 0.01 }], 2),
  ).toEqual({
    ...none,
    rounds: 2,
    tokens: 1999,
    flops: 5e8,
    credits: 0.5,
    gpuSeconds: 2,
    estimatedWh: 0.01,
    duplicates: 2,
  });
});

test("a file of receipts signed by the seed verifies to its summary, against the file's seed or the one given", async () => {
  const file = creditsFile(await issueRounds());
  expect(await verifyCreditsFile(file)).toEqual(EXPECTED);
  expect(await verifyCreditsFile(file, seed.toString())).toEqual(EXPECTED);
  // Through JSON, as the page exports it and the CLI reads it.
  expect(await verifyCreditsFile(JSON.parse(JSON.stringify(file)) as CreditsFile, seed.toString())).toEqual(EXPECTED);
  expect(await verifyCreditsFile(creditsFile([]))).toEqual(summariseReceipts([]));
});

test('a receipt pasted 100 times counts once; two different receipts for one round, or one ledger position, conflict', async () => {
  const mine = await issueRounds();
  const pasted = creditsFile([...mine, ...Array.from({ length: 100 }, () => mine[0]!)]);
  expect(await verifyCreditsFile(pasted)).toEqual({ ...EXPECTED, duplicates: 100 });
  // A second receipt for round 2 (as a seed that issued a round twice would have signed it).
  const twice = await signReceipt(seedKey, seed, { ...receipt(2, 2600), index: 50 });
  await expect(verifyCreditsFile(creditsFile([...mine, twice]))).rejects.toThrow(ConflictingReceiptsError);
  await expect(verifyCreditsFile(creditsFile([...mine, twice]))).rejects.toThrow(
    'receipts 1 and 3 both credit round 2',
  );
  const samePlace = await signReceipt(seedKey, seed, {
    ...receipt(7, 10),
    index: (JSON.parse(mine[0]!.body) as Receipt).index,
  });
  await expect(verifyCreditsFile(creditsFile([...mine, samePlace]))).rejects.toThrow(
    'receipts 0 and 3 both claim ledger position 0',
  );
});

test('checked against another seed, the first receipt is refused', async () => {
  const file = creditsFile(await issueRounds());
  await expect(verifyCreditsFile(file, other.toString())).rejects.toThrow(
    `receipt 0: signed document: signed by ${seed.toString()}, expected ${other.toString()}`,
  );
});

test('a tampered receipt is refused, naming its index', async () => {
  const signed = await issueRounds();
  signed[2] = tamperTokens(signed[2]!, 260_000);
  await expect(verifyCreditsFile(creditsFile(signed))).rejects.toThrow('receipt 2: signed document: bad signature');
});

test('a receipt for another volunteer is refused, naming its index and the peer', async () => {
  const signed = await issueRounds();
  signed[2] = await signReceipt(seedKey, seed, receipt(3, 999, stranger.toString()));
  await expect(verifyCreditsFile(creditsFile(signed))).rejects.toThrow(
    `receipt 2 names peer ${stranger.toString()}, not ${volunteer.toString()}`,
  );
});

test('a receipt signed by another key is refused, naming its index', async () => {
  const signed = await issueRounds();
  // Signed by another peer under its own name...
  signed[1] = await signReceipt(otherKey, other, receipt(1, 4000));
  await expect(verifyCreditsFile(creditsFile(signed))).rejects.toThrow(
    `receipt 1: signed document: signed by ${other.toString()}, expected ${seed.toString()}`,
  );
  // ...or under the seed's name: the signature does not hold.
  signed[1] = await signReceipt(otherKey, seed, receipt(1, 4000));
  await expect(verifyCreditsFile(creditsFile(signed))).rejects.toThrow('receipt 1: signed document: bad signature');
});

test('a signed document of the wrong kind, or a receipt of another version, is refused, naming its index', async () => {
  const signed = await issueRounds();
  signed[2] = await signDocument(seedKey, seed, { ...receipt(2, 2600), kind: 'vgpu/round' });
  await expect(verifyCreditsFile(creditsFile(signed))).rejects.toThrow('receipt 2: receipt: unknown kind/version');
  signed[2] = await signDocument(seedKey, seed, { ...receipt(2, 2600), version: 1, accepted: true });
  await expect(verifyCreditsFile(creditsFile(signed))).rejects.toThrow('receipt 2: receipt: unknown kind/version');
  signed[2] = await signDocument(seedKey, seed, { ...receipt(2, 2600), tokens: -5 });
  await expect(verifyCreditsFile(creditsFile(signed))).rejects.toThrow(
    'receipt 2: receipt: round, peer and tokens are required',
  );
});

test("the ledger audit: the chain, each volunteer's totals, and the seed's signed roots", async () => {
  await issueRounds();
  const lines = issued.map((d) => JSON.stringify(d));
  const root = async (count: number) => ({
    round: count,
    ledger: {
      receipts: count,
      head: count === 0 ? GENESIS_HASH : (await auditLedger(lines.slice(0, count), seed.toString())).head,
    },
  });
  const roots = await Promise.all([0, 1, 2, 4, 5].map(root));
  const audit = await auditLedger(lines, seed.toString(), roots);
  expect(audit.receipts).toBe(5);
  expect(audit.volunteers.get(volunteer.toString())).toEqual(EXPECTED);
  expect(audit.volunteers.get(stranger.toString())).toMatchObject({ rounds: 2, tokens: 4700 });
  // A line taken out, a line changed, a line copied, a root that is not a point of the chain: refused.
  await expect(auditLedger([...lines.slice(0, 2), ...lines.slice(3)], seed.toString())).rejects.toThrow(
    'ledger line 3 says it is at index 3',
  );
  const changed = [...lines];
  changed[1] = JSON.stringify(tamperTokens(issued[1]!, 40_000));
  await expect(auditLedger(changed, seed.toString())).rejects.toThrow('ledger line 2: signed document: bad signature');
  await expect(auditLedger([...lines, lines[4]!], seed.toString())).rejects.toThrow(
    'ledger line 6 says it is at index 4',
  );
  const forged = { round: 9, ledger: { receipts: 3, head: roots[1]!.ledger.head } };
  await expect(auditLedger(lines, seed.toString(), [forged])).rejects.toThrow(
    "round 9's ledger root does not match the ledger",
  );
  await expect(
    auditLedger(lines, seed.toString(), [{ round: 9, ledger: { receipts: 6, head: GENESIS_HASH } }]),
  ).rejects.toThrow('round 9 names 6 receipts; the ledger has only 5');
});

test('a file of the wrong kind or version is refused', async () => {
  const file = creditsFile(await issueRounds());
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
    const path = await write('good.json', creditsFile(await issueRounds()));
    const plain = spawnCli(path);
    expect(plain.stderr).toBe('');
    expect(plain.status).toBe(0);
    expect(plain.stdout).toContain(`${path}: verified`);
    expect(plain.stdout).toMatch(/rounds: +3 credited\n/);
    expect(plain.stdout).toMatch(/tokens: +5099 in credited updates/);
    expect(plain.stdout).toMatch(/credits: +10\.20 \(10\.20 GFLOP of verified training; 1 credit = 1 GFLOP\)\n/);
    expect(plain.stdout).toMatch(/impact: +30 s of GPU time, an estimated 0\.13 Wh and 0\.1 gCO₂/);
    expect(plain.stdout).toContain('pass --seed <peerId>');
    const checked = await cli(path, '--seed', seed.toString());
    expect(checked.status).toBe(0);
    expect(checked.stdout).toMatch(/credits: +10\.20 /);
    expect(checked.stdout).not.toContain('pass --seed');
  });

  test('a bad file prints the error and exits 1', async () => {
    const signed = await issueRounds();
    signed[2] = tamperTokens(signed[2]!, 260_000);
    const tampered = await cli(await write('tampered.json', creditsFile(signed)));
    expect(tampered.status).toBe(1);
    expect(tampered.stdout).toBe('');
    expect(tampered.stderr).toContain('receipt 2: signed document: bad signature');

    const good = await write('good-other-seed.json', creditsFile(await issueRounds()));
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
    expect((await cli(join(dir, 'absent.json'))).stderr).toContain(`cannot read ${join(dir, 'absent.json')}`);
    const badSeed = await cli(await write('any.json', creditsFile([])), '--seed', 'not-a-peer-id');
    expect(badSeed.status).toBe(1);
    expect(badSeed.stderr).toContain('--seed not-a-peer-id is not a peer id');
    const unknown = await cli('x.json', '--sead', 'y');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain("Unknown option '--sead'");
  });

  test('--ledger audits the chain, finds every receipt of the file in it, and checks --round roots', async () => {
    const mine = await issueRounds();
    const ledgerPath = await write('ledger.jsonl', `${issued.map((d) => JSON.stringify(d)).join('\n')}\n`);
    const round = await signRoundManifest(seedKey, seed, await roundManifestWith(ledger.root()));
    const roundPath = await write('round.json', round);
    const file = await write('mine.json', creditsFile(mine));
    const ok = await cli(file, '--seed', seed.toString(), '--ledger', ledgerPath, '--round', roundPath);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/ledger: +5 receipts, chain intact, 1 signed root\(s\) match/);
    expect(ok.stdout).toMatch(/in ledger: +3 rounds, 5099 tokens for this volunteer/);
    // A receipt the seed signed but kept out of its ledger is found out.
    const outside = await signReceipt(seedKey, seed, receipt(9, 10));
    const notIn = await cli(await write('outside.json', creditsFile([...mine, outside])), '--ledger', ledgerPath);
    expect(notIn.status).toBe(1);
    expect(notIn.stderr).toContain('receipt 3 is not in the ledger');
  });
});
