// The federated run's signed documents: round manifests and receipts signed with the seed's
// Ed25519 key, verified against its peer id; tampering, a wrong signer, and every malformed field
// that parseRoundManifest / parseReceipt refuse, each with its FedDocumentError message.
import '../../src/seed/promise-shim';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import { MAX_BLOCK_SIZE } from '../../src/fed/codec';
import {
  FedDocumentError,
  GENESIS_HASH,
  parseReceipt,
  parseRoundManifest,
  type Receipt,
  type RoundManifest,
  signReceipt,
  signRoundManifest,
  verifyReceipt,
  verifyRoundManifest,
} from '../../src/fed/documents';
import { type GptConfig, initParams, paramLayout } from '../../src/model';
import { sha256Hex, utf8 } from '../../src/swarm/bytes';
import { buildManifest, signManifest, verifyManifest } from '../../src/swarm/manifest';
import { SignatureError, type SignedDocument, signDocument } from '../../src/swarm/signed';

const CFG: GptConfig = { vocab: 64, context: 16, layers: 1, heads: 2, width: 16 };
const HEX_A = 'a1'.repeat(32);
const HEX_B = 'b2'.repeat(32);
const HEX_C = 'c3'.repeat(32);

let seedKey: PrivateKey;
let seed: PeerId;
let otherKey: PrivateKey;
let other: PeerId;
let volunteer: PeerId;
let weights: SignedDocument;
let weightsId: string;

test.beforeAll(async () => {
  seedKey = await generateKeyPair('Ed25519');
  seed = peerIdFromPrivateKey(seedKey);
  otherKey = await generateKeyPair('Ed25519');
  other = peerIdFromPrivateKey(otherKey);
  volunteer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  const layout = paramLayout(CFG);
  weights = await signManifest(seedKey, seed, await buildManifest(initParams(layout, 1), 'round 0', CFG));
  weightsId = (await verifyManifest(weights, seed)).id;
});

function manifest(): RoundManifest {
  return {
    kind: 'vgpu/round',
    version: 2,
    round: 3,
    weights,
    weightsId,
    data: { train: HEX_A, validation: HEX_B },
    hyper: { steps: 2, batchSize: 2, context: 8, lr: 3e-3, weightDecay: 0.1, dataSeed: 1 },
    shardCount: 8,
    assignments: { [volunteer.toString()]: 3, [other.toString()]: 0 },
    deadline: 1_700_000_000_000,
    codec: { format: 'int8', blockSize: 256, density: 1 },
    maxNorm: 12.5,
    ledger: { receipts: 7, head: HEX_C },
  };
}

function receipt(over: Partial<Receipt> = {}): Receipt {
  return {
    kind: 'vgpu/receipt',
    version: 2,
    round: 3,
    peer: volunteer.toString(),
    tokens: 32,
    update: HEX_C,
    bytes: 1234,
    at: 1_700_000_000_123,
    index: 5,
    prev: HEX_A,
    ...over,
  };
}

/** A copy of `value` with `key` replaced (or removed, for `undefined`), as plain JSON would carry it. */
function withField(value: object, key: string, v: unknown): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
  if (v === undefined) delete copy[key];
  else copy[key] = v;
  return copy;
}

/** Same for a field of a nested object, e.g. hyper.lr. */
function withNested(value: object, outer: string, key: string, v: unknown): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(value)) as Record<string, Record<string, unknown>>;
  const nested = copy[outer]!;
  if (v === undefined) delete nested[key];
  else nested[key] = v;
  return copy;
}

function expectDocError(fn: () => unknown, message: string, what = message): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `${what}: expected FedDocumentError "${message}"`).toBeInstanceOf(FedDocumentError);
  expect((err as Error).name, what).toBe('FedDocumentError');
  expect((err as Error).message, what).toBe(message);
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(Error);
  return e as Error;
}

test.describe('round manifests', () => {
  test('sign then verify gives back the manifest, its id (sha256 of the body) and the signed document', async () => {
    const m = manifest();
    const signed = await signRoundManifest(seedKey, seed, m);
    expect(signed.signer).toBe(seed.toString());
    expect(JSON.parse(signed.body)).toEqual(m);
    const v = await verifyRoundManifest(signed, seed);
    expect(v.value).toEqual(m);
    expect(v.id).toBe(await sha256Hex(utf8(signed.body)));
    expect(v.signed).toEqual(signed);
    // The peer id as a string works too, and the embedded weights manifest still verifies on its own.
    expect((await verifyRoundManifest(signed, seed.toString())).value.round).toBe(3);
    expect((await verifyManifest(v.value.weights, seed)).id).toBe(weightsId);
  });

  test('accepts the edge values: round 0, no assignments, the last shard, density 1, fp32, int4, int2, dataSeed 0', () => {
    const m = {
      ...manifest(),
      round: 0,
      assignments: {},
      codec: { format: 'fp32' as const, blockSize: 1, density: 1 },
    };
    expect(parseRoundManifest(m)).toBe(m);
    const last = { ...manifest(), assignments: { x: 7 }, hyper: { ...manifest().hyper, dataSeed: 0, weightDecay: 0 } };
    expect(parseRoundManifest(last)).toBe(last);
    const sparse = { ...manifest(), codec: { format: 'int8' as const, blockSize: 64, density: 0.01 } };
    expect(parseRoundManifest(sparse)).toBe(sparse);
    for (const format of ['int4', 'int2'] as const) {
      const lowBit = { ...manifest(), codec: { format, blockSize: 256, density: 0.5 } };
      expect(parseRoundManifest(lowBit)).toBe(lowBit);
    }
  });

  test('a tampered body or signature is refused with SignatureError', async () => {
    const signed = await signRoundManifest(seedKey, seed, manifest());
    const body = JSON.parse(signed.body) as RoundManifest;
    body.assignments[other.toString()] = 5;
    const tampered = { ...signed, body: JSON.stringify(body) };
    const e1 = await rejection(verifyRoundManifest(tampered, seed));
    expect(e1).toBeInstanceOf(SignatureError);
    expect(e1.message).toBe('signed document: bad signature');
    // Whitespace is part of the signed bytes.
    const e2 = await rejection(verifyRoundManifest({ ...signed, body: `${signed.body} ` }, seed));
    expect(e2.message).toBe('signed document: bad signature');
    // A flipped signature byte.
    const sig = Buffer.from(signed.signature, 'base64');
    sig[10]! ^= 1;
    const e3 = await rejection(verifyRoundManifest({ ...signed, signature: sig.toString('base64') }, seed));
    expect(e3.message).toBe('signed document: bad signature');
  });

  test('a manifest from another signer is refused, whether it names itself or claims to be the seed', async () => {
    const byOther = await signRoundManifest(otherKey, other, manifest());
    const e1 = await rejection(verifyRoundManifest(byOther, seed));
    expect(e1).toBeInstanceOf(SignatureError);
    expect(e1.message).toBe(`signed document: signed by ${other.toString()}, expected ${seed.toString()}`);
    // Signed with another key but labelled as the seed's: the seed's public key does not verify it.
    const forged = await signRoundManifest(otherKey, seed, manifest());
    expect(forged.signer).toBe(seed.toString());
    const e2 = await rejection(verifyRoundManifest(forged, seed));
    expect(e2.message).toBe('signed document: bad signature');
    // And a genuine receipt is not a round manifest: the signature holds, the parse refuses it.
    const r = await signReceipt(seedKey, seed, receipt());
    const e3 = await rejection(verifyRoundManifest(r, seed));
    expect(e3).toBeInstanceOf(FedDocumentError);
    expect(e3.message).toBe('round manifest: unknown kind/version vgpu/receipt/2');
  });

  test('a correctly signed but malformed manifest is refused by verifyRoundManifest with FedDocumentError', async () => {
    const bad = await signDocument(seedKey, seed, { ...manifest(), maxNorm: 0 });
    const e = await rejection(verifyRoundManifest(bad, seed));
    expect(e).toBeInstanceOf(FedDocumentError);
    expect(e.message).toBe('round manifest: maxNorm must be positive');
  });

  test('parseRoundManifest refuses each malformed field with its message', () => {
    const m = manifest();
    const cases: [string, unknown, string][] = [
      ['null', null, 'round manifest: not an object'],
      ['a string', 'vgpu/round', 'round manifest: not an object'],
      ['wrong kind', withField(m, 'kind', 'vgpu/weights'), 'round manifest: unknown kind/version vgpu/weights/2'],
      ['wrong version', withField(m, 'version', 1), 'round manifest: unknown kind/version vgpu/round/1'],
      ['no version', withField(m, 'version', undefined), 'round manifest: unknown kind/version vgpu/round/undefined'],
      ['negative round', withField(m, 'round', -1), 'round manifest: round must be a non-negative integer'],
      ['float round', withField(m, 'round', 1.5), 'round manifest: round must be a non-negative integer'],
      ['string round', withField(m, 'round', '3'), 'round manifest: round must be a non-negative integer'],
      ['missing round', withField(m, 'round', undefined), 'round manifest: round must be a non-negative integer'],
      [
        'short weightsId',
        withField(m, 'weightsId', 'ab'.repeat(31)),
        'round manifest: weightsId must be a sha256 hex id',
      ],
      [
        'uppercase weightsId',
        withField(m, 'weightsId', weightsId.toUpperCase()),
        'round manifest: weightsId must be a sha256 hex id',
      ],
      ['missing weightsId', withField(m, 'weightsId', undefined), 'round manifest: weightsId must be a sha256 hex id'],
      ['null weights', withField(m, 'weights', null), 'round manifest: weights must be a signed document'],
      ['string weights', withField(m, 'weights', 'x'), 'round manifest: weights must be a signed document'],
      ['missing weights', withField(m, 'weights', undefined), 'round manifest: weights must be a signed document'],
      ['missing data', withField(m, 'data', undefined), 'round manifest: data must name the token files by sha256'],
      [
        'bad train hash',
        withNested(m, 'data', 'train', 'xyz'),
        'round manifest: data must name the token files by sha256',
      ],
      [
        'missing validation hash',
        withNested(m, 'data', 'validation', undefined),
        'round manifest: data must name the token files by sha256',
      ],
      ['missing hyper', withField(m, 'hyper', undefined), 'round manifest: hyper is incomplete'],
      ['zero steps', withNested(m, 'hyper', 'steps', 0), 'round manifest: hyper is incomplete'],
      ['float batchSize', withNested(m, 'hyper', 'batchSize', 2.5), 'round manifest: hyper is incomplete'],
      ['zero context', withNested(m, 'hyper', 'context', 0), 'round manifest: hyper is incomplete'],
      ['string lr', withNested(m, 'hyper', 'lr', '0.001'), 'round manifest: hyper is incomplete'],
      ['missing weightDecay', withNested(m, 'hyper', 'weightDecay', undefined), 'round manifest: hyper is incomplete'],
      ['negative dataSeed', withNested(m, 'hyper', 'dataSeed', -1), 'round manifest: hyper is incomplete'],
      [
        'warm-up longer than the round',
        withNested(m, 'hyper', 'warmupSteps', 1e6),
        'round manifest: hyper.warmupSteps must be an integer from 0 to steps, got 1000000',
      ],
      [
        'float warm-up',
        withNested(m, 'hyper', 'warmupSteps', 1.5),
        'round manifest: hyper.warmupSteps must be an integer from 0 to steps, got 1.5',
      ],
      ['zero shardCount', withField(m, 'shardCount', 0), 'round manifest: shardCount must be a positive integer'],
      ['float shardCount', withField(m, 'shardCount', 8.5), 'round manifest: shardCount must be a positive integer'],
      ['null assignments', withField(m, 'assignments', null), 'round manifest: assignments must be an object'],
      ['missing assignments', withField(m, 'assignments', undefined), 'round manifest: assignments must be an object'],
      ['shard = shardCount', withField(m, 'assignments', { p: 8 }), 'round manifest: a shard is out of range'],
      ['negative shard', withField(m, 'assignments', { p: -1 }), 'round manifest: a shard is out of range'],
      ['float shard', withField(m, 'assignments', { p: 1.5 }), 'round manifest: a shard is out of range'],
      ['string shard', withField(m, 'assignments', { p: '1' }), 'round manifest: a shard is out of range'],
      ['string deadline', withField(m, 'deadline', '2024-01-01'), 'round manifest: deadline must be a time'],
      ['missing deadline', withField(m, 'deadline', undefined), 'round manifest: deadline must be a time'],
      ['missing codec', withField(m, 'codec', undefined), 'round manifest: codec is invalid'],
      ['unknown format', withNested(m, 'codec', 'format', 'fp16'), 'round manifest: codec is invalid'],
      ['zero blockSize', withNested(m, 'codec', 'blockSize', 0), 'round manifest: codec is invalid'],
      ['zero density', withNested(m, 'codec', 'density', 0), 'round manifest: codec is invalid'],
      ['density above 1', withNested(m, 'codec', 'density', 1.01), 'round manifest: codec is invalid'],
      ['zero maxNorm', withField(m, 'maxNorm', 0), 'round manifest: maxNorm must be positive'],
      ['negative maxNorm', withField(m, 'maxNorm', -1), 'round manifest: maxNorm must be positive'],
      ['missing maxNorm', withField(m, 'maxNorm', undefined), 'round manifest: maxNorm must be positive'],
    ];
    for (const [what, value, message] of cases) expectDocError(() => parseRoundManifest(value), message, what);
  });

  test('parseRoundManifest keeps the bounds every party holds, each at its edge: lr, weight decay, assignments, blockSize', () => {
    const m = manifest();
    const hyper = (change: Partial<RoundManifest['hyper']>) => ({ ...m, hyper: { ...m.hyper, ...change } });
    const assignments = (n: number) => ({
      ...m,
      shardCount: 8,
      assignments: Object.fromEntries(Array.from({ length: n }, (_, i) => [`peer${i}`, i % 8])),
    });
    const blockSize = (b: number) => ({ ...m, codec: { ...m.codec, blockSize: b } });
    for (const ok of [
      hyper({ lr: Number.MIN_VALUE }),
      hyper({ weightDecay: 0 }),
      assignments(8),
      blockSize(MAX_BLOCK_SIZE),
    ])
      expect(parseRoundManifest(ok)).toBe(ok);
    expectDocError(() => parseRoundManifest(hyper({ lr: 0 })), 'round manifest: hyper.lr must be positive, got 0');
    expectDocError(
      () => parseRoundManifest(hyper({ lr: -3e-3 })),
      'round manifest: hyper.lr must be positive, got -0.003',
    );
    expectDocError(
      () => parseRoundManifest(hyper({ weightDecay: -Number.MIN_VALUE })),
      'round manifest: hyper.weightDecay must be >= 0, got -5e-324',
    );
    expectDocError(() => parseRoundManifest(assignments(9)), 'round manifest: 9 assignments for 8 shards');
    expectDocError(
      () => parseRoundManifest(blockSize(MAX_BLOCK_SIZE + 1)),
      `round manifest: codec.blockSize ${MAX_BLOCK_SIZE + 1} is over ${MAX_BLOCK_SIZE}, the codec's largest`,
    );
  });

  test('parseRoundManifest refuses non-finite numbers (which JSON cannot carry, but an object can)', () => {
    const m = manifest();
    expectDocError(
      () => parseRoundManifest({ ...m, hyper: { ...m.hyper, lr: Number.NaN } }),
      'round manifest: hyper is incomplete',
    );
    expectDocError(
      () => parseRoundManifest({ ...m, hyper: { ...m.hyper, weightDecay: Number.POSITIVE_INFINITY } }),
      'round manifest: hyper is incomplete',
    );
    expectDocError(() => parseRoundManifest({ ...m, deadline: Number.NaN }), 'round manifest: deadline must be a time');
    expectDocError(
      () => parseRoundManifest({ ...m, maxNorm: Number.POSITIVE_INFINITY }),
      'round manifest: maxNorm must be positive',
    );
    expectDocError(
      () => parseRoundManifest({ ...m, codec: { ...m.codec, density: Number.NaN } }),
      'round manifest: codec is invalid',
    );
    const ledger = 'round manifest: ledger must give the receipts count and the head hash';
    expectDocError(() => parseRoundManifest({ ...m, ledger: undefined }), ledger);
    expectDocError(() => parseRoundManifest({ ...m, ledger: { receipts: -1, head: HEX_C } }), ledger);
    expectDocError(() => parseRoundManifest({ ...m, ledger: { receipts: 1, head: 'x' } }), ledger);
  });
});

test.describe('receipts', () => {
  test('sign then verify round-trips a receipt, the first of a ledger too', async () => {
    for (const r of [receipt(), receipt({ index: 0, prev: GENESIS_HASH })]) {
      const signed = await signReceipt(seedKey, seed, r);
      const v = await verifyReceipt(signed, seed);
      expect(v.value).toEqual(r);
      expect(v.id).toBe(await sha256Hex(utf8(signed.body)));
    }
  });

  test('a tampered receipt or one from another signer is refused', async () => {
    const signed = await signReceipt(seedKey, seed, receipt());
    // A volunteer raising its tokens is caught.
    const raised = signed.body.replace('"tokens":32', '"tokens":32000');
    expect(raised).not.toBe(signed.body);
    const e1 = await rejection(verifyReceipt({ ...signed, body: raised }, seed));
    expect(e1).toBeInstanceOf(SignatureError);
    expect(e1.message).toBe('signed document: bad signature');
    const byOther = await signReceipt(otherKey, other, receipt());
    const e2 = await rejection(verifyReceipt(byOther, seed));
    expect(e2.message).toBe(`signed document: signed by ${other.toString()}, expected ${seed.toString()}`);
    const forged = await signReceipt(otherKey, seed, receipt({ tokens: 1_000_000 }));
    const e3 = await rejection(verifyReceipt(forged, seed));
    expect(e3.message).toBe('signed document: bad signature');
    // A round manifest is not a receipt.
    const m = await signRoundManifest(seedKey, seed, manifest());
    const e4 = await rejection(verifyReceipt(m, seed));
    expect(e4).toBeInstanceOf(FedDocumentError);
    expect(e4.message).toBe('receipt: unknown kind/version');
  });

  test('parseReceipt refuses each malformed field with its message', () => {
    const r = receipt();
    const required = 'receipt: round, peer and tokens are required';
    const chain = "receipt: its ledger index and the previous receipt's hash are required";
    const tail = 'receipt: update hash, bytes and time are required';
    const cases: [string, unknown, string][] = [
      ['null', null, 'receipt: not an object'],
      ['a number', 7, 'receipt: not an object'],
      ['wrong kind', withField(r, 'kind', 'vgpu/round'), 'receipt: unknown kind/version'],
      ['wrong version', withField(r, 'version', 1), 'receipt: unknown kind/version'],
      ['negative round', withField(r, 'round', -1), required],
      ['float round', withField(r, 'round', 0.5), required],
      ['missing peer', withField(r, 'peer', undefined), required],
      ['numeric peer', withField(r, 'peer', 12), required],
      ['negative tokens', withField(r, 'tokens', -3), required],
      ['float tokens', withField(r, 'tokens', 3.5), required],
      ['negative index', withField(r, 'index', -1), chain],
      ['missing index', withField(r, 'index', undefined), chain],
      ['bad prev', withField(r, 'prev', 'x'), chain],
      ['missing prev', withField(r, 'prev', undefined), chain],
      ['bad update hash', withField(r, 'update', 'not-a-hash'), tail],
      ['missing update hash', withField(r, 'update', undefined), tail],
      ['negative bytes', withField(r, 'bytes', -1), tail],
      ['float bytes', withField(r, 'bytes', 1.5), tail],
      ['string at', withField(r, 'at', 'now'), tail],
      ['missing at', withField(r, 'at', undefined), tail],
    ];
    for (const [what, value, message] of cases) expectDocError(() => parseReceipt(value), message, what);
    expectDocError(() => parseReceipt({ ...r, at: Number.NaN }), tail);
    // The edge values pass: round 0, 0 tokens, 0 bytes, index 0.
    const edge = receipt({ round: 0, tokens: 0, bytes: 0, index: 0 });
    expect(parseReceipt(edge)).toBe(edge);
  });
});
