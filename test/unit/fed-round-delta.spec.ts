// Round deltas (src/fed/round-delta.ts): the next weights are defined as from + decode(delta), which
// a volunteer rebuilds bit for bit; the seed's residual carries what a lossy codec left out, so the
// published weights track the exact ones to within one round's rounding instead of drifting; the
// signed delta manifest is checked field by field.
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import { type CodecSettings, UpdateFormatError } from '../../src/fed';
import {
  applyRoundDelta,
  encodeRoundDelta,
  parseDeltaManifest,
  signDeltaManifest,
  verifyDeltaManifest,
} from '../../src/fed/round-delta';
import { randomUniform } from '../../src/util/random';

/** Not a multiple of the block size: the last block is short. */
const N = 5003;
const INT4: CodecSettings = { format: 'int4', blockSize: 64, density: 1 };

test('the next weights are from + decode(delta), and applyRoundDelta rebuilds them bit for bit', () => {
  const from = randomUniform(N, 1, 1);
  const target = from.map((x, i) => x + 1e-3 * Math.sin(i));
  for (const codec of [INT4, { ...INT4, format: 'int8' }, { ...INT4, format: 'int2' }] as CodecSettings[]) {
    const { bytes, next } = encodeRoundDelta(from, target, undefined, codec);
    const rebuilt = applyRoundDelta(from, bytes, codec);
    expect(Buffer.compare(Buffer.from(rebuilt.buffer), Buffer.from(next.buffer)), codec.format).toBe(0);
  }
});

test("over many rounds the residual keeps the published weights within one round's rounding of the exact ones; without it they drift", () => {
  const exact = randomUniform(N, 2, 1);
  let published: Float32Array = exact.slice();
  let drifting: Float32Array = exact.slice();
  let residual: Float32Array | undefined;
  const worst = (a: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - exact[i]!)), 0);
  const firstRoundError: number[] = [];
  for (let round = 0; round < 40; round++) {
    // Every round moves each weight the same small way (a biased change, as an outer step's often is).
    const change = randomUniform(N, 100 + round, 1e-3).map((x) => x + 5e-4);
    for (let i = 0; i < N; i++) exact[i]! += change[i]!;
    // The seed's target is the published weights moved by the round's change (its outer step).
    const step = (from: Float32Array) => from.map((x, i) => x + change[i]!);
    const withFeedback = encodeRoundDelta(published, step(published), residual, INT4);
    published = withFeedback.next;
    residual = withFeedback.residual;
    drifting = encodeRoundDelta(drifting, step(drifting), undefined, INT4).next;
    if (round === 0) firstRoundError.push(worst(published));
    // What is left to send is exactly the gap between the exact and the published weights (to f32 rounding).
    for (const i of [0, 1, N - 1]) expect(Math.abs(published[i]! + residual[i]! - exact[i]!)).toBeLessThan(1e-6);
  }
  // int4 rounds each element by at most half its block's step, max|x|/7/2: about 1e-4 here.
  expect(worst(published)).toBeLessThan(3 * firstRoundError[0]!);
  // Without feedback the same bias is rounded away every round (here 1.3e-3 after 40 rounds, 12× the error with it).
  expect(worst(drifting)).toBeGreaterThan(5 * worst(published));
});

test('a delta that does not decode under its codec is refused with the codec error', () => {
  const from = randomUniform(N, 3, 1);
  const { bytes } = encodeRoundDelta(
    from,
    from.map((x) => x + 1e-3),
    undefined,
    INT4,
  );
  expect(() => applyRoundDelta(from, bytes.subarray(0, bytes.length - 1), INT4)).toThrow(UpdateFormatError);
  expect(() => applyRoundDelta(from, bytes, { ...INT4, format: 'int8' })).toThrow(UpdateFormatError);
  expect(() => applyRoundDelta(from.subarray(1), bytes, INT4)).toThrow(UpdateFormatError);
});

test('the signed delta manifest names its weights and codec; a forged or malformed one is refused, naming the field', async () => {
  const key = await generateKeyPair('Ed25519');
  const seed = peerIdFromPrivateKey(key);
  const from = randomUniform(N, 4, 1);
  const { bytes } = encodeRoundDelta(
    from,
    from.map((x) => x - 1e-3),
    undefined,
    INT4,
  );
  const ids = { from: 'a'.repeat(64), to: 'b'.repeat(64) };
  const signed = await signDeltaManifest(key, seed, { ...ids, codec: INT4, bytes });
  const { value } = await verifyDeltaManifest(signed, seed);
  expect(value).toMatchObject({ kind: 'vgpu/delta', version: 1, ...ids, codec: INT4, totalBytes: bytes.length });
  const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  await expect(verifyDeltaManifest(signed, other)).rejects.toThrow(`signed by ${seed}, expected ${other}`);
  const refusals: [Record<string, unknown>, string][] = [
    [{ kind: 'vgpu/weights' }, 'delta manifest: unknown kind/version vgpu/weights/1'],
    [{ from: 'nope' }, 'delta manifest: from and to must be weights manifest ids'],
    [{ codec: { ...INT4, format: 'int3' } }, 'delta manifest: codec is invalid'],
    [{ codec: { ...INT4, blockSize: 1 << 20 } }, 'delta manifest: codec.blockSize 1048576 is over 65536'],
    [{ pieces: [] }, 'delta manifest: pieces must list one hash per piece'],
    [{ totalBytes: 0 }, 'delta manifest: totalBytes must be an integer in [1, '],
  ];
  for (const [change, message] of refusals) expect(() => parseDeltaManifest({ ...value, ...change })).toThrow(message);
});
