// Signed documents and weight manifests: build, sign, verify, and every way a manifest is refused.
import '../../src/seed/promise-shim';
import { createHash } from 'node:crypto';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import { type GptConfig, initParams, LAYOUT_VERSION, MODEL_PRESETS, paramLayout } from '../../src/model';
import { toBase64, utf8 } from '../../src/swarm/bytes';
import { MAX_MODEL_BYTES, MAX_SIGNED_DOCUMENT_BYTES, PIECE_BYTES } from '../../src/swarm/limits';
import {
  buildManifest,
  ManifestError,
  parseWeightsManifest,
  pieceCount,
  pieceRange,
  signManifest,
  verifyManifest,
  type WeightsManifest,
} from '../../src/swarm/manifest';
import { SignatureError, type SignedDocument, signDocument, verifyDocument } from '../../src/swarm/signed';

/** 3.59 MiB of weights: three full 1 MiB pieces and a short fourth one. */
const CFG: GptConfig = { vocab: 1024, context: 128, layers: 4, heads: 4, width: 128 };
/** The prefix every signed payload starts with (pinned here: it is part of the wire format). */
const DOMAIN = 'vgpu/signed-document/v1\n';

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

interface Keyed {
  key: PrivateKey;
  id: PeerId;
}

async function newKey(): Promise<Keyed> {
  const key = await generateKeyPair('Ed25519');
  return { key, id: peerIdFromPrivateKey(key) };
}

let weights: Float32Array;
let manifest: WeightsManifest;
let seed: Keyed;
let other: Keyed;
let signed: SignedDocument;

test.beforeAll(async () => {
  weights = initParams(paramLayout(CFG), 3);
  manifest = await buildManifest(weights, 'test run', CFG);
  seed = await newKey();
  other = await newKey();
  signed = await signManifest(seed.key, seed.id, manifest);
});

/** The manifest with some fields replaced, signed by the real seed (so only the field checks can refuse it). */
function signedWith(changes: Record<string, unknown>): Promise<SignedDocument> {
  return signDocument(seed.key, seed.id, { ...manifest, ...changes });
}

/** The message of the error `p` rejects with, after checking its class. */
async function rejection(p: Promise<unknown>, cls: typeof SignatureError | typeof ManifestError): Promise<string> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(cls);
  return (e as Error).message;
}

test('buildManifest cuts the vector into 1 MiB pieces with a short last one, hashes each and the whole', () => {
  const bytes = new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength);
  expect(bytes.length).toBe(paramLayout(CFG).total * 4);
  expect(bytes.length).toBeGreaterThan(3 * PIECE_BYTES);
  expect(bytes.length).toBeLessThan(4 * PIECE_BYTES);
  expect(manifest).toMatchObject({
    kind: 'vgpu/weights',
    version: 1,
    name: 'test run',
    model: CFG,
    layoutVersion: LAYOUT_VERSION,
    totalBytes: bytes.length,
    pieceBytes: PIECE_BYTES,
  });
  expect(manifest.pieces).toHaveLength(4);
  // Each piece hash is the sha256 of exactly its byte range; the last range is the short remainder.
  manifest.pieces.forEach((hash, i) => {
    const [start, end] = pieceRange(manifest, i);
    expect(hash).toBe(sha256(bytes.subarray(start, end)));
  });
  expect(pieceRange(manifest, 3)[1] - pieceRange(manifest, 3)[0]).toBe(bytes.length - 3 * PIECE_BYTES);
  expect(manifest.sha256).toBe(sha256(bytes));
});

test('pieceRange tiles [0, totalBytes) exactly: contiguous, no gap, no overlap, each at most pieceBytes', () => {
  for (const [total, size] of [
    [manifest.totalBytes, manifest.pieceBytes] as const,
    [10, 3],
    [9, 3],
    [1, 5],
    [PIECE_BYTES, PIECE_BYTES],
  ]) {
    const m = { ...manifest, totalBytes: total, pieceBytes: size };
    const n = pieceCount(total, size);
    let next = 0;
    for (let i = 0; i < n; i++) {
      const [start, end] = pieceRange(m, i);
      expect(start, `${total}/${size} piece ${i} starts where the previous ended`).toBe(next);
      expect(end - start).toBeGreaterThan(0);
      expect(end - start).toBeLessThanOrEqual(size);
      next = end;
    }
    expect(next, `${total}/${size}: the pieces end at totalBytes`).toBe(total);
  }
});

test('a signed manifest verifies against its seed; its id is the sha256 of the signed body', async () => {
  expect(signed.signer).toBe(seed.id.toString());
  expect(signed.body).toBe(JSON.stringify(manifest));
  const v = await verifyManifest(signed, seed.id);
  expect(v.id).toBe(sha256(signed.body));
  expect(v.value).toEqual(manifest);
  expect(v.signed).toEqual(signed);
  // The expected signer may be given as a string, and a JSON round trip of the document changes nothing.
  const again = await verifyManifest(JSON.parse(JSON.stringify(signed)), seed.id.toString());
  expect(again.id).toBe(v.id);
});

test('a tampered body is refused: bad signature', async () => {
  const body = signed.body.replace('"test run"', '"evil run"');
  expect(body).not.toBe(signed.body);
  expect(await rejection(verifyManifest({ ...signed, body }, seed.id), SignatureError)).toBe(
    'signed document: bad signature',
  );
});

test('a tampered signature is refused: a flipped bit, and text that is not base64', async () => {
  const sig = Uint8Array.from(atob(signed.signature), (c) => c.charCodeAt(0));
  sig[5]! ^= 1;
  expect(await rejection(verifyManifest({ ...signed, signature: toBase64(sig) }, seed.id), SignatureError)).toBe(
    'signed document: bad signature',
  );
  expect(await rejection(verifyManifest({ ...signed, signature: 'not base64!' }, seed.id), SignatureError)).toBe(
    'signed document: signature is not base64',
  );
});

test('a manifest from another signer is refused when the seed is expected', async () => {
  const theirs = await signManifest(other.key, other.id, manifest);
  // Genuine, but not the seed's.
  expect((await verifyManifest(theirs, other.id)).id).toBe(sha256(theirs.body));
  expect(await rejection(verifyManifest(theirs, seed.id), SignatureError)).toBe(
    `signed document: signed by ${other.id.toString()}, expected ${seed.id.toString()}`,
  );
  // And the seed's genuine manifest is refused when someone else is expected.
  expect(await rejection(verifyManifest(signed, other.id), SignatureError)).toMatch(
    /^signed document: signed by .*, expected /,
  );
});

test('a forgery signed by another key but naming the seed as signer is refused: bad signature', async () => {
  const evil = { ...manifest, name: 'evil' };
  const forged = await signDocument(other.key, other.id, evil);
  expect(await rejection(verifyManifest({ ...forged, signer: seed.id.toString() }, seed.id), SignatureError)).toBe(
    'signed document: bad signature',
  );
  // Signing without the domain prefix (a raw libp2p-style signature over the body) does not verify either.
  const raw = toBase64(await seed.key.sign(utf8(signed.body)));
  expect(await rejection(verifyManifest({ ...signed, signature: raw }, seed.id), SignatureError)).toBe(
    'signed document: bad signature',
  );
});

test('malformed documents are refused before any signature check', async () => {
  for (const doc of [null, undefined, 42, 'text', true]) {
    expect(await rejection(verifyManifest(doc, seed.id), SignatureError)).toBe('signed document: not an object');
  }
  for (const doc of [
    {},
    { ...signed, body: 1 },
    { ...signed, signer: null },
    { body: signed.body, signer: signed.signer },
  ]) {
    expect(await rejection(verifyManifest(doc, seed.id), SignatureError)).toBe(
      'signed document: body, signer and signature must be strings',
    );
  }
  const huge = { ...signed, body: 'x'.repeat(MAX_SIGNED_DOCUMENT_BYTES + 1) };
  expect(await rejection(verifyManifest(huge, seed.id), SignatureError)).toBe(
    `signed document: body over the ${MAX_SIGNED_DOCUMENT_BYTES}-byte limit`,
  );
  // A signer string that is not a peer id (and the caller expects exactly that string).
  expect(
    await rejection(
      verifyDocument({ ...signed, signer: 'nobody' }, 'nobody', (v) => v),
      SignatureError,
    ),
  ).toBe('signed document: signer nobody is not a peer id');
});

test('signDocument refuses a document over the size limit', async () => {
  await expect(signDocument(seed.key, seed.id, { pad: 'x'.repeat(MAX_SIGNED_DOCUMENT_BYTES) })).rejects.toThrow(
    /over the 262144-byte limit/,
  );
});

test('a correctly signed body that is not JSON is refused: body is not JSON', async () => {
  const body = '{"kind": "vgpu/weights",';
  const signature = toBase64(await seed.key.sign(utf8(DOMAIN + body)));
  expect(
    await rejection(verifyManifest({ body, signer: seed.id.toString(), signature }, seed.id), SignatureError),
  ).toBe('signed document: body is not JSON');
});

test('a correctly signed manifest with a wrong field is refused with a ManifestError naming it', async () => {
  const hash = manifest.pieces[0]!;
  const cases: [Record<string, unknown>, string | RegExp][] = [
    [{ pieces: manifest.pieces.slice(0, 3) }, 'weights manifest: pieces must list one hash per piece'],
    [{ pieces: [...manifest.pieces, hash] }, 'weights manifest: pieces must list one hash per piece'],
    [{ pieces: 'abc' }, 'weights manifest: pieces must list one hash per piece'],
    [
      { pieces: [hash.toUpperCase(), ...manifest.pieces.slice(1)] },
      'weights manifest: hashes must be 64 lowercase hex digits',
    ],
    [
      { pieces: [hash.slice(1), ...manifest.pieces.slice(1)] },
      'weights manifest: hashes must be 64 lowercase hex digits',
    ],
    [{ pieces: [42, ...manifest.pieces.slice(1)] }, 'weights manifest: hashes must be 64 lowercase hex digits'],
    [{ sha256: `${manifest.sha256.slice(0, 63)}g` }, 'weights manifest: hashes must be 64 lowercase hex digits'],
    // Four more bytes keep the piece count right but break the layout match.
    [
      { totalBytes: manifest.totalBytes + 4 },
      `weights manifest: totalBytes ${manifest.totalBytes + 4} does not match the model's layout (${manifest.totalBytes} bytes)`,
    ],
    [{ totalBytes: 0 }, /^weights manifest: totalBytes must be an integer in \[1, \d+\]$/],
    [{ totalBytes: 1.5 }, /^weights manifest: totalBytes must be an integer/],
    [{ totalBytes: '3763200' }, /^weights manifest: totalBytes must be an integer/],
    [{ totalBytes: 2 ** 40 }, /^weights manifest: totalBytes must be an integer/],
    [{ pieceBytes: PIECE_BYTES + 1 }, `weights manifest: pieceBytes must be an integer in [1, ${PIECE_BYTES}]`],
    [{ pieceBytes: 0 }, `weights manifest: pieceBytes must be an integer in [1, ${PIECE_BYTES}]`],
    [{ kind: 'vgpu/round' }, 'weights manifest: unknown kind/version vgpu/round/1'],
    [{ version: 2 }, 'weights manifest: unknown kind/version vgpu/weights/2'],
    [
      { layoutVersion: LAYOUT_VERSION + 1 },
      `weights manifest: layout version ${LAYOUT_VERSION + 1}, this build reads ${LAYOUT_VERSION}`,
    ],
    [{ name: 7 }, 'weights manifest: name must be a string of at most 200 characters'],
    [{ name: 'n'.repeat(201) }, 'weights manifest: name must be a string of at most 200 characters'],
    [{ model: { ...CFG, heads: 3 } }, 'weights manifest: model: GPT config: heads (3) must divide width (128)'],
    [{ model: { ...CFG, vocab: 0 } }, 'weights manifest: model: GPT config: vocab must be a positive integer, got 0'],
    [{ model: { ...CFG, context: 8192 } }, /^weights manifest: model: GPT config: context 8192 exceeds the limit/],
    // A valid config of another size: the layout no longer matches totalBytes.
    [
      { model: { ...CFG, vocab: 1025 } },
      /^weights manifest: totalBytes \d+ does not match the model's layout \(\d+ bytes\)$/,
    ],
    [{ model: undefined }, 'weights manifest: model must be a GPT config object'],
  ];
  for (const [changes, message] of cases) {
    const msg = await rejection(verifyManifest(await signedWith(changes), seed.id), ManifestError);
    if (typeof message === 'string') expect(msg, JSON.stringify(changes).slice(0, 80)).toBe(message);
    else expect(msg, JSON.stringify(changes).slice(0, 80)).toMatch(message);
  }
  // The parser alone refuses a non-object.
  for (const v of [null, 'x', 3])
    expect(() => parseWeightsManifest(v)).toThrow(new ManifestError('weights manifest: not an object'));
});

test('parseWeightsManifest keeps only the known fields (extra ones are dropped, the model is copied)', () => {
  const parsed = parseWeightsManifest({ ...manifest, extra: 'x', model: { ...CFG, junk: 1 } });
  expect(parsed).toEqual(manifest);
  expect(Object.keys(parsed.model).sort()).toEqual(['context', 'heads', 'layers', 'vocab', 'width']);
});

test('buildManifest refuses a vector that does not match the model layout', async () => {
  await expect(buildManifest(new Float32Array(1000), 'x', CFG)).rejects.toThrow(
    /weights manifest: totalBytes 4000 does not match the model's layout/,
  );
});

test('the model size a tab takes: MAX_MODEL_BYTES passes the size check, a byte more is refused; the largest preset fits', async () => {
  const hash = manifest.pieces[0]!;
  // At the bound the size is taken (and the next check, the layout, speaks); past it the size is refused.
  const atBound = { totalBytes: MAX_MODEL_BYTES, pieces: Array(MAX_MODEL_BYTES / PIECE_BYTES).fill(hash) };
  expect(await rejection(verifyManifest(await signedWith(atBound), seed.id), ManifestError)).toBe(
    `weights manifest: totalBytes ${MAX_MODEL_BYTES} does not match the model's layout (${manifest.totalBytes} bytes)`,
  );
  const over = { totalBytes: MAX_MODEL_BYTES + 1, pieces: Array(MAX_MODEL_BYTES / PIECE_BYTES + 1).fill(hash) };
  expect(await rejection(verifyManifest(await signedWith(over), seed.id), ManifestError)).toBe(
    `weights manifest: totalBytes must be an integer in [1, ${MAX_MODEL_BYTES}]`,
  );
  // Every preset's weights are within it (swarm-32mib is the largest).
  for (const [name, model] of Object.entries(MODEL_PRESETS))
    expect(paramLayout(model).total * 4, name).toBeLessThanOrEqual(MAX_MODEL_BYTES);
});
