// The seed's weights publisher: each vector the coordinator puts up gets a signed manifest; the
// newest SEED_SERVABLE_MANIFESTS stay servable (their pieces in the store), older pieces are dropped,
// and what is served is a copy the coordinator's in-place updates cannot touch.
import '../../src/seed/promise-shim';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import {
  type CodecSettings,
  encodeRoundDelta,
  secondMomentLength,
  verifyDeltaManifest,
  verifyMomentManifest,
} from '../../src/fed';
import { type GptConfig, initParams, paramLayout } from '../../src/model';
import { createWeightsPublisher, type WeightsPublisher } from '../../src/seed/weights';
import { SEED_SERVABLE_MANIFESTS } from '../../src/swarm/limits';
import { pieceRange, type VerifiedManifest, type VerifiedPieces, verifyManifest } from '../../src/swarm/manifest';
import type { SignedDocument } from '../../src/swarm/signed';

/** 3.59 MiB: 4 pieces, so that manifests can share all but their first piece. */
const CFG: GptConfig = { vocab: 1024, context: 128, layers: 4, heads: 4, width: 128 };

let key: PrivateKey;

test.beforeAll(async () => {
  key = await generateKeyPair('Ed25519');
});

function publisher(): { w: WeightsPublisher; saved: SignedDocument[] } {
  const saved: SignedDocument[] = [];
  const w = createWeightsPublisher({ key, model: CFG, save: async (signed) => void saved.push(signed) });
  return { w, saved };
}

/** Whether the store serves exactly the bytes of every piece of `m`, cut from `vector`. */
async function servesAll(w: WeightsPublisher, m: VerifiedPieces, vector: Float32Array | Uint8Array): Promise<boolean> {
  const bytes = new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength);
  for (const [i, hash] of m.value.pieces.entries()) {
    const got = await w.store.get(hash);
    if (!got || Buffer.compare(got, bytes.subarray(...pieceRange(m.value, i))) !== 0) return false;
  }
  return true;
}

test('the newest SEED_SERVABLE_MANIFESTS manifests stay servable; the pieces only older ones had are dropped', async () => {
  expect(SEED_SERVABLE_MANIFESTS).toBe(2);
  const { w, saved } = publisher();
  expect(() => w.current()).toThrow('no weights published yet');
  const params = initParams(paramLayout(CFG), 1);
  const published: { manifest: VerifiedManifest; weights: Float32Array }[] = [];
  for (let round = 0; round < 4; round++) {
    params[0] = round + 0.5; // a change in the first piece only: the other three are shared
    const { weights: manifest } = await w.publish(params, `round ${round}`);
    published.push({ manifest, weights: params.slice() });
    expect(w.current().manifest.id).toBe(manifest.id);
  }
  const manifests = published.map((p) => p.manifest);
  expect(new Set(manifests.map((m) => m.value.pieces[0])).size).toBe(4);
  expect(new Set(manifests.map((m) => m.value.pieces.slice(1).join())).size).toBe(1);
  // Signed by the seed's key, named as published, and each one saved (the run folder's manifest.json).
  const peerId = peerIdFromPrivateKey(key);
  for (const [round, p] of published.entries()) {
    expect((await verifyManifest(p.manifest.signed, peerId)).id).toBe(p.manifest.id);
    expect(p.manifest.value.name).toBe(`round ${round}`);
  }
  expect(saved).toEqual(published.map((p) => p.manifest.signed));
  // The two newest are servable, every piece of them; the older ones are not.
  for (const [i, p] of published.entries()) {
    const servable = i >= published.length - SEED_SERVABLE_MANIFESTS;
    expect(w.manifest(p.manifest.id), `manifest of round ${i}`).toEqual(servable ? p.manifest.value : undefined);
    if (servable) expect(await servesAll(w, p.manifest, p.weights), `pieces of round ${i}`).toBe(true);
  }
  // The first pieces of rounds 0 and 1 are gone; the pieces they shared with rounds 2 and 3 stay.
  for (const m of manifests.slice(0, 2)) expect(await w.store.has(m.value.pieces[0]!)).toBe(false);
  for (const hash of manifests[2]!.value.pieces.slice(1)) expect(await w.store.has(hash)).toBe(true);
  expect(w.current().manifest.id).toBe(manifests[3]!.id);
});

test('the same vector under the same name (a round issued again) is the same manifest, published once', async () => {
  const { w, saved } = publisher();
  const params = initParams(paramLayout(CFG), 2);
  const { weights: first } = await w.publish(params, 'round 0');
  params[0] = 7;
  const { weights: second } = await w.publish(params, 'round 1');
  const { weights: again } = await w.publish(params, 'round 1');
  expect(again.id).toBe(second.id);
  expect(saved).toHaveLength(2);
  // Round 0's weights are still servable: issuing round 1 again did not push them out.
  expect(w.manifest(first.id)).toEqual(first.value);
  expect(w.manifest(second.id)).toEqual(second.value);
});

test('what is served is a copy: the coordinator updating its params in place changes nothing served', async () => {
  const { w } = publisher();
  const params = initParams(paramLayout(CFG), 3);
  const original = params.slice();
  const { weights: m } = await w.publish(params, 'round 0');
  params.fill(1);
  expect(Buffer.compare(Buffer.from(w.current().weights.buffer), Buffer.from(original.buffer))).toBe(0);
  expect(await servesAll(w, m, original)).toBe(true);
});

test("a round's delta is signed naming the weights it rebuilds, and served until the next one replaces it", async () => {
  const { w, saved } = publisher();
  const peerId = peerIdFromPrivateKey(key);
  const codec: CodecSettings = { format: 'int8', blockSize: 256, density: 1 };
  const params = initParams(paramLayout(CFG), 4);
  const { weights: m0, delta: none } = await w.publish(params, 'round 0');
  expect(none).toBeUndefined();
  const published: { doc: SignedDocument; bytes: Uint8Array }[] = [];
  let from = m0;
  for (let round = 1; round <= 2; round++) {
    const target = params.map((x, i) => x + 1e-3 * Math.sin(i * round));
    const { bytes, next } = encodeRoundDelta(params, target, undefined, codec);
    params.set(next);
    const { weights, delta } = await w.publish(params, `round ${round}`, { delta: { from: from.id, codec, bytes } });
    const verified = await verifyDeltaManifest(delta, peerId);
    expect(verified.value).toMatchObject({ kind: 'vgpu/delta', from: from.id, to: weights.id, codec });
    expect(verified.value.totalBytes).toBe(bytes.length);
    expect(w.manifest(verified.id)).toEqual(verified.value);
    expect(await servesAll(w, verified, bytes)).toBe(true);
    // Issued again, the same delta (the same signed bytes).
    expect((await w.publish(params, `round ${round}`, { delta: { from: from.id, codec, bytes } })).delta).toEqual(
      delta,
    );
    published.push({ doc: delta!, bytes });
    from = weights;
  }
  // Only the newest delta is served: only holders of the newest weights' predecessor can use one.
  const old = await verifyDeltaManifest(published[0]!.doc, peerId);
  expect(w.manifest(old.id)).toBeUndefined();
  for (const hash of old.value.pieces) expect(await w.store.has(hash)).toBe(false);
  // Deltas are not weights: the run folder keeps only the weights manifests.
  expect(saved).toHaveLength(3);
});

test("a round's second moment is signed for the model's size and served until the next one replaces it", async () => {
  const { w } = publisher();
  const peerId = peerIdFromPrivateKey(key);
  const params = initParams(paramLayout(CFG), 5);
  const docs = [];
  for (const fill of [100, 120]) {
    const codes = new Uint8Array(secondMomentLength(params.length)).fill(fill);
    const { secondMoment } = await w.publish(params, 'round 1', { secondMoment: codes });
    const verified = await verifyMomentManifest(secondMoment, peerId);
    expect(verified.value).toMatchObject({ kind: 'vgpu/moment', parameters: params.length, totalBytes: codes.length });
    expect(w.manifest(verified.id)).toEqual(verified.value);
    expect(await servesAll(w, verified, codes)).toBe(true);
    docs.push(verified);
  }
  expect(w.manifest(docs[0]!.id)).toBeUndefined();
});
