// AdamW's second moment shared through the seed (src/fed/second-moment.ts): one log-scale byte per
// block of SECOND_MOMENT_BLOCK parameters, the mean of reports taken in v (a block only one report
// saw keeps its share), and sizes
// checked.

import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import {
  encodeSecondMoment,
  expandSecondMoment,
  meanSecondMoment,
  parseMomentManifest,
  SECOND_MOMENT_BLOCK,
  secondMomentLength,
  signMomentManifest,
  verifyMomentManifest,
} from '../../src/fed/second-moment';
import { randomUniform } from '../../src/util/random';

/** Not a multiple of the block: the last block is short. */
const P = 16 * 40 + 5;

test("codes round-trip each block's mean to within a code's step (2^(1/4): 19%), and zero to zero", () => {
  // Means spread over 40 octaves, with noise inside each block; the last block holds zeros.
  const v = new Float32Array(P);
  for (let b = 0; b < 40; b++) {
    const noise = randomUniform(SECOND_MOMENT_BLOCK, b + 1, 0.5);
    for (let i = 0; i < SECOND_MOMENT_BLOCK; i++) v[b * SECOND_MOMENT_BLOCK + i] = 2 ** -b * (1 + noise[i]!);
  }
  const codes = encodeSecondMoment(v);
  expect(codes).toHaveLength(secondMomentLength(P));
  const back = expandSecondMoment(codes, P);
  for (let b = 0; b < 40; b++) {
    const block = v.subarray(b * SECOND_MOMENT_BLOCK, (b + 1) * SECOND_MOMENT_BLOCK);
    const mean = block.reduce((s, x) => s + x, 0) / block.length;
    const got = back[b * SECOND_MOMENT_BLOCK]!;
    expect(Math.abs(Math.log2(got / mean)), `block ${b}`).toBeLessThanOrEqual(1 / 8 + 1e-9);
    // Every parameter of a block gets the block's value.
    expect(new Set(back.subarray(b * SECOND_MOMENT_BLOCK, (b + 1) * SECOND_MOMENT_BLOCK)).size).toBe(1);
  }
  expect(codes.at(-1)).toBe(0);
  expect(Array.from(back.subarray(40 * SECOND_MOMENT_BLOCK))).toEqual([0, 0, 0, 0, 0]);
  // Past the scale's ends: above 1 clamps to 1, a tiny mean to the smallest code, NaN to none.
  const ends = new Float32Array(3 * SECOND_MOMENT_BLOCK);
  ends
    .fill(4, 0, SECOND_MOMENT_BLOCK)
    .fill(1e-30, SECOND_MOMENT_BLOCK)
    .fill(Number.NaN, 2 * SECOND_MOMENT_BLOCK);
  expect(Array.from(encodeSecondMoment(ends))).toEqual([255, 1, 0]);
});

test('the mean of reports is taken in v, and a block only one report saw keeps its share instead of dropping to none', () => {
  const codes = (v: number) => encodeSecondMoment(new Float32Array(P).fill(v));
  const mean = expandSecondMoment(meanSecondMoment([codes(1e-4), codes(3e-4)]), P);
  // 2e-4, to within a code's step.
  expect(Math.abs(Math.log2(mean[0]! / 2e-4))).toBeLessThanOrEqual(1 / 8 + 1e-9);
  // One report of eight saw gradients (v = 8e-4): the mean keeps 1e-4; a median would give 0.
  const seen = expandSecondMoment(meanSecondMoment([codes(8e-4), ...Array.from({ length: 7 }, () => codes(0))]), P);
  expect(Math.abs(Math.log2(seen[0]! / 1e-4))).toBeLessThanOrEqual(1 / 8 + 1e-9);
});

test('sizes are checked: codes for another model, reports of different lengths, no reports', () => {
  const codes = encodeSecondMoment(new Float32Array(P).fill(1e-3));
  expect(() => expandSecondMoment(codes, P + SECOND_MOMENT_BLOCK)).toThrow(
    `second moment: ${codes.length} codes for ${P + SECOND_MOMENT_BLOCK} parameters (expected ${codes.length + 1})`,
  );
  expect(() => meanSecondMoment([codes, codes.subarray(1)])).toThrow('reports differ in length');
  expect(() => meanSecondMoment([])).toThrow('no reports');
});

test('the signed second-moment manifest is checked: block size, parameters, and bytes to match', async () => {
  const key = await generateKeyPair('Ed25519');
  const seed = peerIdFromPrivateKey(key);
  const codes = encodeSecondMoment(new Float32Array(P).fill(1e-3));
  const { value } = await verifyMomentManifest(await signMomentManifest(key, seed, codes, P), seed);
  expect(value).toMatchObject({ kind: 'vgpu/moment', parameters: P, blockSize: SECOND_MOMENT_BLOCK });
  const refusals: [Record<string, unknown>, string][] = [
    [{ blockSize: 32 }, 'second-moment manifest: blockSize must be 16, got 32'],
    [{ parameters: 0 }, 'second-moment manifest: parameters must be a positive integer'],
    [
      { parameters: P + SECOND_MOMENT_BLOCK },
      `second-moment manifest: ${codes.length} bytes for ${P + SECOND_MOMENT_BLOCK} parameters`,
    ],
  ];
  for (const [change, message] of refusals) expect(() => parseMomentManifest({ ...value, ...change })).toThrow(message);
});
