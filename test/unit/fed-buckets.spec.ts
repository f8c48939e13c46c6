// The seed's streaming pieces (src/fed/buckets.ts, sketch.ts, spool.ts): buckets that fold updates as
// they come and give the rule what it would get from the updates themselves, sketches whose cosines
// track the updates', and the spool's folder on disk.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { aggregateBuckets, aggregateWithWeights, bucketMeans, drain } from '../../src/fed/aggregate';
import { createRoundBuckets } from '../../src/fed/buckets';
import { createSketcher, SKETCH_SIZE } from '../../src/fed/sketch';
import { openFileSpool } from '../../src/seed/spool';
import { createRandom, randomUniform } from '../../src/util/random';

const cosine = (a: Float32Array, b: Float32Array) => {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(aa * bb);
};

test('streaming buckets: up to `count` updates each has its own, and the rule gives what it gives over the updates', () => {
  const length = 777; // odd, not a power of two
  const updates = Array.from({ length: 10 }, (_, k) => randomUniform(length, k + 1, 1 + k / 3));
  const buckets = createRoundBuckets(length, 16, createRandom(4));
  for (const [k, u] of updates.entries()) buckets.add(`p${k}`, u);
  const { peers, buckets: snapshot } = buckets.snapshot();
  expect(snapshot.every((b) => b.members.length === 1)).toBe(true);
  // A bucket of one is its update exactly (a float64 sum of one f32 value, divided by 1).
  for (const b of snapshot) expect(b.mean).toEqual(updates[Number(peers[b.members[0]!]!.slice(1))]);
  for (const rule of ['mean', 'trimmed-mean', 'median-norm-clip', 'centered-clip'] as const) {
    const opts = { radius: 3, reference: randomUniform(length, 99, 0.1) };
    const streamed = drain(aggregateBuckets(snapshot, rule, opts)).vector;
    const direct = aggregateWithWeights(updates, rule, opts).vector;
    let worst = 0;
    for (let i = 0; i < length; i++) worst = Math.max(worst, Math.abs(streamed[i]! - direct[i]!));
    // Only the order of float64 sums differs: within one f32 rounding of values below 4.
    expect(worst, rule).toBeLessThan(1e-6);
  }
});

test('streaming buckets: past `count` they fill evenly in a drawn order, and a removed update leaves its bucket as if never added', () => {
  const length = 301;
  const updates = Array.from({ length: 23 }, (_, k) => randomUniform(length, 50 + k));
  const buckets = createRoundBuckets(length, 5, createRandom(7));
  for (const [k, u] of updates.entries()) buckets.add(`p${k}`, u);
  expect(buckets.size).toBe(23);
  const sizes = buckets.snapshot().buckets.map((b) => b.members.length);
  expect(sizes.sort()).toEqual([4, 5, 5, 5, 4].sort());
  // Each bucket's mean is its members' mean.
  const check = () => {
    const { peers, buckets: snap } = buckets.snapshot();
    for (const b of snap) {
      const members = b.members.map((m) => updates[Number(peers[m]!.slice(1))]!);
      for (let i = 0; i < length; i += 37) {
        const mean = members.reduce((s, u) => s + u[i]!, 0) / members.length;
        expect(b.mean[i]).toBeCloseTo(mean, 6);
      }
    }
    return snap;
  };
  check();
  // Another draw deals them out differently: nobody can choose its bucket by its place in line.
  const other = createRoundBuckets(length, 5, createRandom(8));
  for (const [k, u] of updates.entries()) other.add(`p${k}`, u);
  const membersOf = (b: typeof buckets) => {
    const { peers, buckets: snap } = b.snapshot();
    return snap
      .map((x) =>
        x.members
          .map((m) => peers[m])
          .sort()
          .join(),
      )
      .sort()
      .join('|');
  };
  expect(membersOf(other)).not.toBe(membersOf(buckets));
  // Removing: the members' mean again; removing twice, or a stranger, changes nothing.
  for (const k of [3, 4, 11]) buckets.remove(`p${k}`, updates[k]!);
  buckets.remove('p3', updates[3]!);
  buckets.remove('nobody', updates[0]!);
  expect(buckets.size).toBe(20);
  expect(check().reduce((s, b) => s + b.members.length, 0)).toBe(20);
  // An emptied bucket drops out of the snapshot.
  const lone = createRoundBuckets(length, 5, createRandom(1));
  lone.add('a', updates[0]!);
  lone.add('b', updates[1]!);
  lone.remove('a', updates[0]!);
  expect(lone.snapshot().buckets.map((b) => b.mean)).toEqual([updates[1]]);
  expect(() => lone.add('b', updates[1]!)).toThrow(/already has an update/);
  expect(() => lone.add('c', new Float32Array(3))).toThrow(/3 floats/);
});

test('the rule across buckets of several updates: the size-weighted mean is the mean of all', () => {
  const length = 200;
  const updates = Array.from({ length: 11 }, (_, k) => randomUniform(length, 300 + k));
  const streamed = createRoundBuckets(length, 4, createRandom(2));
  for (const [k, u] of updates.entries()) streamed.add(`p${k}`, u);
  const { buckets } = streamed.snapshot();
  expect(buckets.map((b) => b.members.length).sort()).toEqual([2, 3, 3, 3]);
  const all = drain(aggregateBuckets(bucketMeans(updates, 1, 0), 'mean')).vector;
  const { vector, coefficients } = drain(aggregateBuckets(buckets, 'mean'));
  for (let i = 0; i < length; i++) expect(vector[i]).toBeCloseTo(all[i]!, 6);
  expect(Array.from(coefficients).sort()).toEqual([2 / 11, 3 / 11, 3 / 11, 3 / 11].sort());
});

test('count sketches: cosines within ±0.1 of the updates’, copies at ≥ 0.999; short vectors are their own sketch', () => {
  const length = 50_001;
  const sketch = createSketcher(length, 12345);
  const base = randomUniform(length, 1);
  const mix = (t: number, seed: number) => {
    const noise = randomUniform(length, seed);
    return base.map((x, i) => Math.sqrt(1 - t * t) * x + t * noise[i]!);
  };
  for (const [t, seed] of [
    [0.1, 2],
    [0.5, 3],
    [0.8, 4],
    [0.99, 5],
  ] as const) {
    const v = mix(t, seed);
    const exact = cosine(base, v);
    expect(Math.abs(cosine(sketch(base), sketch(v)) - exact), `t ${t}: exact ${exact.toFixed(3)}`).toBeLessThan(0.1);
  }
  const copy = mix(0.01, 9);
  expect(cosine(sketch(base), sketch(copy))).toBeGreaterThan(0.999);
  expect(sketch(base).length).toBe(SKETCH_SIZE);
  // Another secret hashes differently.
  expect(createSketcher(length, 54321)(base)).not.toEqual(sketch(base));
  const short = randomUniform(SKETCH_SIZE, 3);
  expect(createSketcher(SKETCH_SIZE, 1)(short)).toEqual(short);
  expect(() => sketch(short)).toThrow(/sketching 1024 floats, made for 50001/);
});

test('the file spool keeps bodies per batch in the run folder, drops a batch, and starts empty', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vgpu-spool-'));
  try {
    const spool = await openFileSpool(dir);
    await spool.put(0, '12D3KooWabc', new Uint8Array([1, 2, 3]));
    await spool.put(1, '../escape', new Uint8Array([4]));
    expect(await spool.get(0, '12D3KooWabc')).toEqual(new Uint8Array([1, 2, 3]));
    expect(await spool.get(1, '../escape')).toEqual(new Uint8Array([4]));
    expect(await readdir(join(dir, 'spool', '1'))).toEqual(['..%2Fescape']);
    await spool.drop(0);
    await expect(spool.get(0, '12D3KooWabc')).rejects.toThrow(/ENOENT/);
    await openFileSpool(dir);
    expect(await readdir(join(dir, 'spool'))).toEqual([]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
