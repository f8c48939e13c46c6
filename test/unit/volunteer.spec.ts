// The Node volunteer's own parts (src/volunteer): its bounded piece cache and the CPU trainer.
import { expect, test } from '@playwright/test';
import { type CodecSettings, decodeUpdate, secondMomentLength } from '../../src/fed';
import { initParams, paramLayout } from '../../src/model';
import { createCpuTrainer, memoryPieceCache } from '../../src/volunteer';

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

test('the piece cache drops its oldest pieces past its bound, never the one just put', async () => {
  const cache = memoryPieceCache(10);
  await cache.put('a', bytes(4, 1));
  await cache.put('b', bytes(4, 2));
  await cache.put('a', bytes(4, 1)); // put again: now the newest
  await cache.put('c', bytes(4, 3)); // 12 bytes: the oldest (b) goes
  expect([await cache.has('a'), await cache.has('b'), await cache.has('c')]).toEqual([true, false, true]);
  await cache.put('big', bytes(16, 4)); // over the bound alone: everything else goes, it stays
  expect([await cache.has('a'), await cache.has('c'), await cache.has('big')]).toEqual([false, false, true]);
  expect(await cache.get('big')).toEqual(bytes(16, 4));
});

const config = { vocab: 32, context: 8, layers: 1, heads: 2, width: 16 };
const tokens = (n: number, seed: number) => Uint32Array.from({ length: n }, (_, i) => (i * 7 + seed) % config.vocab);
const FP32: CodecSettings = { format: 'fp32', blockSize: 64, density: 1 };

test("the CPU trainer's update is the pseudo-gradient of its steps; cancel stops after the current step", async () => {
  const trainer = createCpuTrainer();
  const info = await trainer.init({ config, batchSize: 2, context: 8 });
  expect(info.matmulTiles).toBeUndefined();
  await trainer.loadData(tokens(512, 1), tokens(128, 3));
  const start = initParams(paramLayout(config), 7);
  await trainer.loadParams(start);
  const r = await trainer.train({ steps: 3, hyper: { lr: 1e-2 }, seed: 1, codec: FP32 });
  expect(r).toMatchObject({ tokens: 3 * 2 * 8, cancelled: false });
  expect(r.losses).toHaveLength(3);
  const end = await trainer.readParams();
  const update = decodeUpdate(r.update, start.length);
  // fp32 and no residual yet: exactly start − end.
  expect(Array.from(update)).toEqual(Array.from(start, (s, j) => Math.fround(s - end[j]!)));
  expect(update.some((x) => x !== 0)).toBe(true);

  await trainer.loadParams(start);
  const cancelled = await trainer.train({ steps: 100, seed: 1, codec: FP32 }, async (p) => {
    if (p.step === 2) await trainer.cancel();
  });
  expect(cancelled).toMatchObject({ cancelled: true });
  expect(cancelled.losses).toHaveLength(2);
  expect(await trainer.activity()).toMatchObject({ steps: 2, holding: false });
});

test('a CPU trainer that keeps its AdamW moments steps differently after loadParams; by default it starts fresh', async () => {
  const start = initParams(paramLayout(config), 7);
  /** Two rounds from `start`: the second round's update. */
  const secondRound = async (keepOptimizerState: boolean) => {
    const trainer = createCpuTrainer({ keepOptimizerState });
    await trainer.init({ config, batchSize: 2, context: 8 });
    await trainer.loadData(tokens(512, 1), tokens(128, 3));
    await trainer.loadParams(start);
    await trainer.train({ steps: 3, hyper: { lr: 1e-2 }, seed: 1, codec: FP32 });
    await trainer.loadParams(start);
    return decodeUpdate(
      (await trainer.train({ steps: 1, hyper: { lr: 1e-2 }, seed: 2, codec: FP32 })).update,
      start.length,
    );
  };
  const fresh = createCpuTrainer();
  await fresh.init({ config, batchSize: 2, context: 8 });
  await fresh.loadData(tokens(512, 1), tokens(128, 3));
  await fresh.loadParams(start);
  const once = decodeUpdate(
    (await fresh.train({ steps: 1, hyper: { lr: 1e-2 }, seed: 2, codec: FP32 })).update,
    start.length,
  );
  expect(Array.from(await secondRound(false))).toEqual(Array.from(once));
  expect(Array.from(await secondRound(true))).not.toEqual(Array.from(once));
});

test('a CPU trainer reports its final second moment, and a round that names one starts from it and repeats exactly', async () => {
  const start = initParams(paramLayout(config), 7);
  const trainer = createCpuTrainer();
  await trainer.init({ config, batchSize: 2, context: 8 });
  await trainer.loadData(tokens(512, 1), tokens(128, 3));
  const round = async (secondMoment?: Uint8Array) => {
    await trainer.loadParams(start);
    const request = { steps: 2, hyper: { lr: 1e-2 }, seed: 2, codec: FP32, secondMoment };
    const r = await trainer.train({ ...request, reportSecondMoment: true });
    return { update: decodeUpdate(r.update, start.length), reported: r.secondMoment! };
  };
  const fresh = await round();
  expect(fresh.reported).toHaveLength(secondMomentLength(start.length));
  // Only a request that asks for the report gets one (a volunteer's round does not).
  await trainer.loadParams(start);
  expect((await trainer.train({ steps: 1, seed: 2, codec: FP32 })).secondMoment).toBeUndefined();
  expect(fresh.reported.some((code) => code > 0)).toBe(true);
  // Started from the reported v (no bias correction), the same round repeats bit for bit: what a
  // re-execution of it needs.
  const from = await round(fresh.reported);
  expect(Array.from((await round(fresh.reported)).update)).toEqual(Array.from(from.update));
  expect(Array.from(from.update)).not.toEqual(Array.from(fresh.update));
  // A v of 1 everywhere (the top code) makes the same gradients' steps tiny.
  const damped = await round(new Uint8Array(fresh.reported.length).fill(255));
  const largest = (u: Float32Array) => u.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  expect(largest(damped.update)).toBeLessThan(largest(fresh.update) / 10);
});
