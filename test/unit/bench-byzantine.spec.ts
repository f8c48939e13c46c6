// The Byzantine benchmark's attacks (bench/lib/byzantine-attacks.ts) on small hand-computed vectors,
// and which volunteers attack.
import { expect, test } from '@playwright/test';
import {
  ATTACKS,
  type AttackInput,
  alie,
  alieZ,
  COPY_NOISE,
  craftUpdate,
  ipm,
  meanAndStd,
  nearCopy,
  normalQuantile,
  randomSigns,
  scaled,
  TRAINS,
  UNDER_BOUND,
} from '../../bench/lib/byzantine-attacks';
import { attackerIndices } from '../../bench/lib/byzantine-run';
import { l2Norm } from '../../src/fed';
import { createRandom } from '../../src/util/random';

const f32 = (...v: number[]) => new Float32Array(v);
const expectClose = (got: Float32Array, want: number[], digits = 6) => {
  expect(got.length).toBe(want.length);
  for (const [i, w] of want.entries()) expect(got[i], `element ${i}`).toBeCloseTo(w, digits);
};

// Three honest updates: coordinate-wise mean (3, 2, −1) and population std (√(8/3), 0, 1).
const honest = [f32(1, 2, 0), f32(3, 2, -2), f32(5, 2, -1)];
const std0 = Math.sqrt(8 / 3);
const std2 = Math.sqrt(2 / 3);

test('normalQuantile: known values of Φ⁻¹, both tails', () => {
  expect(normalQuantile(0.5)).toBeCloseTo(0, 12);
  expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 6);
  expect(normalQuantile(0.025)).toBeCloseTo(-1.959964, 6);
  expect(normalQuantile(0.6)).toBeCloseTo(0.253347, 6);
  expect(normalQuantile(0.7)).toBeCloseTo(0.524401, 6);
  expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 5);
  expect(() => normalQuantile(0)).toThrow(/0 < p < 1/);
  expect(() => normalQuantile(1)).toThrow(/0 < p < 1/);
});

test("alieZ: Baruch et al.'s z for n workers, f of them attackers", () => {
  // n = 10, f = 2: s = 6 − 2 = 4, z = Φ⁻¹(6/10); f = 3: s = 3, z = Φ⁻¹(7/10).
  expect(alieZ(10, 2)).toBeCloseTo(0.253347, 6);
  expect(alieZ(10, 3)).toBeCloseTo(0.524401, 6);
  // n = 50, f = 12: s = 26 − 12 = 14, z = Φ⁻¹(36/50).
  expect(alieZ(50, 12)).toBeCloseTo(normalQuantile(36 / 50), 12);
});

test('meanAndStd, alie and ipm on hand-computed vectors', () => {
  const { mean, std } = meanAndStd(honest);
  expect(Array.from(mean)).toEqual([3, 2, -1]);
  expect(std[0]).toBeCloseTo(std0, 12);
  expect(std[1]).toBe(0);
  expect(std[2]).toBeCloseTo(std2, 12);
  // ALIE: mean − z·std per coordinate; a constant coordinate stays put.
  expectClose(alie(honest, 1), [3 - std0, 2, -1 - std2]);
  expectClose(alie(honest, 0), [3, 2, -1]);
  // IPM: −ε × the mean.
  expectClose(ipm(honest, 0.5), [-1.5, -1, 0.5]);
});

test('scaled, randomSigns and nearCopy', () => {
  expectClose(scaled(f32(1, -2), -1), [-1, 2]);
  const r = randomSigns(400, 10, createRandom(3));
  expect(l2Norm(r)).toBeCloseTo(10, 4);
  expect(new Set(Array.from(r, Math.abs)).size).toBe(1); // every coordinate ±10/√400
  const positives = r.filter((x) => x > 0).length;
  expect(positives).toBeGreaterThan(150);
  expect(positives).toBeLessThan(250);
  expect(randomSigns(400, 10, createRandom(3))).toEqual(r); // seeded
  const source = honest[0]!;
  const copy = nearCopy(source, 0.01, createRandom(4));
  const gap = l2Norm(copy.map((x, i) => x - source[i]!));
  expect(gap).toBeCloseTo(0.01 * l2Norm(source), 5);
  expect(copy).not.toEqual(source);
});

test('craftUpdate: what each attack sends', () => {
  const own = f32(3, 4); // norm 5
  const first = f32(-1, 1);
  const round: AttackInput = {
    own,
    first,
    honest: [f32(1, 0), f32(3, 2)],
    bound: 20,
    volunteers: 10,
    attackers: 3,
    seed: 7,
  };
  expectClose(craftUpdate('sign-flip', round), [-3, -4]);
  // scaled: its own direction at UNDER_BOUND × the bound.
  const big = craftUpdate('scaled', round);
  expect(l2Norm(big)).toBeCloseTo(UNDER_BOUND * 20, 4);
  expectClose(big, [(3 / 5) * UNDER_BOUND * 20, (4 / 5) * UNDER_BOUND * 20], 4);
  const random = craftUpdate('random', round);
  expect(l2Norm(random)).toBeCloseTo(UNDER_BOUND * 20, 4);
  expect(craftUpdate('random', round)).toEqual(random); // seeded by the round's seed
  expect(craftUpdate('random', { ...round, seed: 8 })).not.toEqual(random);
  expect(Array.from(craftUpdate('zero', round))).toEqual([0, 0]);
  // copy: one of the honest updates, off by COPY_NOISE of its norm.
  const copy = craftUpdate('copy', round);
  const nearest = Math.min(...round.honest.map((h) => l2Norm(copy.map((x, i) => x - h[i]!)) / l2Norm(h)));
  expect(nearest).toBeCloseTo(COPY_NOISE, 5);
  expectClose(craftUpdate('stale', round), [-1, 1]);
  // ALIE with n = 10, f = 3 over the two honest ones: mean (2, 1), std (1, 1).
  expectClose(craftUpdate('alie', round), [2 - alieZ(10, 3), 1 - alieZ(10, 3)]);
  // IPM: against the honest mean (2, 1), at UNDER_BOUND × the bound.
  const s = (UNDER_BOUND * 20) / Math.sqrt(5);
  expectClose(craftUpdate('ipm', round), [-2 * s, -s], 4);
  // What each needs: its own update for sign-flip and scaled, its first one for stale.
  expect(() => craftUpdate('sign-flip', { ...round, own: undefined })).toThrow(/its own update/);
  expect(() => craftUpdate('stale', { ...round, first: undefined })).toThrow(/its first update/);
});

test('TRAINS lists every attack, and attackers are spread over the shards', () => {
  expect(Object.keys(TRAINS).sort()).toEqual([...ATTACKS].sort());
  expect(attackerIndices(10, 0)).toEqual([]);
  expect(attackerIndices(10, 2)).toEqual([2, 7]);
  expect(attackerIndices(10, 3)).toEqual([1, 5, 8]);
  expect(new Set(attackerIndices(16, 5)).size).toBe(5);
});
