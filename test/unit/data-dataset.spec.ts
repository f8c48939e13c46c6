import { expect, test } from '@playwright/test';
import { type Batch, splitText, TokenDataset, Tokenizer } from '../../src/data';

/** A dataset whose token at each position is the position itself, so batches show where they read. */
function positional(trainLength: number, validationLength: number): TokenDataset {
  const range = (n: number, from: number) => Uint32Array.from({ length: n }, (_, i) => from + i);
  return new TokenDataset(range(trainLength, 0), range(validationLength, trainLength));
}

const SHAPE = { batchSize: 8, context: 16 };

test('splitText holds out about the last 10% at whitespace, and the parts rejoin to the text', () => {
  const text = 'word '.repeat(1000);
  const { train, validation } = splitText(text);
  expect(train + validation).toBe(text);
  expect(validation.length / text.length).toBeCloseTo(0.1, 2);
  expect(train.endsWith(' ')).toBe(true);
  expect(validation.startsWith('word')).toBe(true);
  expect(splitText(text, 0.25).validation.length / text.length).toBeCloseTo(0.25, 2);
  // With no whitespace it cuts at the fraction, but never inside a surrogate pair.
  const emoji = '👋'.repeat(15);
  const parts = splitText(emoji);
  expect(parts.train + parts.validation).toBe(emoji);
  expect(parts.train.length % 2).toBe(0);
});

test('a dataset from text encodes both splits separately, and they decode back to the text', () => {
  const text = 'The quick brown fox jumps over the lazy dog. '.repeat(40);
  const tokenizer = Tokenizer.train(splitText(text).train, 300);
  const dataset = TokenDataset.fromText(text, tokenizer);
  expect(tokenizer.decode(dataset.train) + tokenizer.decode(dataset.validation)).toBe(text);
  expect(dataset.validation.length / (dataset.train.length + dataset.validation.length)).toBeGreaterThan(0.05);
  expect(dataset.validation.length / (dataset.train.length + dataset.validation.length)).toBeLessThan(0.15);
});

test('batches are deterministic in (seed, shard, step), and targets are inputs shifted by one', () => {
  const dataset = positional(1000, 200);
  const options = { ...SHAPE, seed: 7, step: 3, shard: 1, shardCount: 4 };
  const batch = dataset.batch('train', options);
  expect(batch.inputs.length).toBe(SHAPE.batchSize * SHAPE.context);
  expect(batch.targets.length).toBe(SHAPE.batchSize * SHAPE.context);
  expect(dataset.batch('train', options)).toEqual(batch);
  expect(dataset.batch('train', { ...options, step: 4 })).not.toEqual(batch);
  expect(dataset.batch('train', { ...options, seed: 8 })).not.toEqual(batch);
  // Positional tokens: each row is consecutive positions, and each target is the next position.
  expect(batch.targets.every((target, i) => target === batch.inputs[i]! + 1)).toBe(true);
  expect(batch.inputs.every((input, i) => i % SHAPE.context === 0 || input === batch.inputs[i - 1]! + 1)).toBe(true);
  const validation = dataset.batch('validation', { ...SHAPE, seed: 7, step: 0 });
  expect(dataset.batch('validation', { ...SHAPE, seed: 7, step: 0 })).toEqual(validation);
  expect(Math.min(...validation.inputs)).toBeGreaterThanOrEqual(1000);
});

test('shards tile the training tokens, and two shards never read the same position', () => {
  const dataset = positional(1003, 100);
  const shardCount = 4;
  const read: Set<number>[] = [];
  let next = 0;
  for (let shard = 0; shard < shardCount; shard++) {
    const { start, end } = dataset.shardRange('train', shard, shardCount);
    expect(start).toBe(next);
    next = end;
    const positions = new Set<number>();
    for (let step = 0; step < 50; step++) {
      const { inputs, targets } = dataset.batch('train', { ...SHAPE, seed: 1, step, shard, shardCount });
      for (const p of [...inputs, ...targets]) positions.add(p);
    }
    expect(Math.min(...positions)).toBeGreaterThanOrEqual(start);
    expect(Math.max(...positions)).toBeLessThan(end);
    // 50 steps of 8 windows cover most of a 250-token shard, including its last token.
    expect(positions.size).toBeGreaterThan(200);
    expect(positions.has(end - 1)).toBe(true);
    for (const other of read) expect([...positions].filter((p) => other.has(p))).toEqual([]);
    read.push(positions);
  }
  expect(next).toBe(1003);
});

test('evalBatches is a fixed validation set spread over the whole validation split', () => {
  const dataset = positional(1000, 300);
  const batches: Batch[] = dataset.evalBatches(3, SHAPE);
  expect(batches).toHaveLength(3);
  expect(dataset.evalBatches(3, SHAPE)).toEqual(batches);
  const rowStarts = batches.flatMap((b) =>
    [...Array(SHAPE.batchSize).keys()].map((row) => b.inputs[row * SHAPE.context]!),
  );
  expect(rowStarts[0]).toBe(1000); // the first validation token
  expect(rowStarts.at(-1)! + SHAPE.context).toBeGreaterThan(1300 - 20); // reaches near the end
  expect(rowStarts.every((start, i) => i === 0 || start > rowStarts[i - 1]!)).toBe(true);
  for (const { inputs, targets } of batches) {
    expect(targets.every((target, i) => target === inputs[i]! + 1)).toBe(true);
    expect(Math.max(...targets)).toBeLessThan(1300);
  }
});

test('dataset errors are clear', () => {
  const dataset = positional(100, 20);
  const ok = { ...SHAPE, seed: 1, step: 0 };
  expect(() => dataset.batch('train', { ...ok, context: 30, shard: 0, shardCount: 4 })).toThrow(
    /context 30 needs 31 tokens but shard 0 of 4 of the train split holds 25; use fewer shards/,
  );
  expect(() => dataset.batch('train', { ...ok, shard: 4, shardCount: 4 })).toThrow(
    /shard must be an integer in \[0, 3\], got 4/,
  );
  expect(() => dataset.batch('train', { ...ok, shardCount: 0 })).toThrow(/shardCount/);
  expect(() => dataset.batch('train', { ...ok, batchSize: 0 })).toThrow(/batchSize/);
  expect(() => dataset.batch('train', { ...ok, context: 2.5 })).toThrow(/context/);
  expect(() => dataset.batch('train', { ...ok, step: -1 })).toThrow(/step/);
  expect(() => dataset.batch('train', { ...ok, seed: 2 ** 32 })).toThrow(/seed/);
  expect(() => dataset.evalBatches(1, { batchSize: 1, context: 20 })).toThrow(/validation split holds 20/);
  expect(() => dataset.evalBatches(0, SHAPE)).toThrow(/count/);
  expect(() => TokenDataset.fromText('', Tokenizer.byteLevel())).toThrow(/text is empty/);
  expect(() => splitText('a')).toThrow(/too short/);
  expect(() => splitText('some text', 1)).toThrow(/validationFraction/);
  expect(() => new TokenDataset(new Uint32Array(5), new Uint32Array(0))).toThrow(/both splits need tokens/);
});
