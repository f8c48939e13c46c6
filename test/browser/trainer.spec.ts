import { expect, test } from '@playwright/test';
import { TokenDataset, Tokenizer } from '../../src/data';
import { loadDefaultCorpus } from '../../src/data/corpus';
import { inPage, openGpuPage } from '../harness/page';
import type { TrainCase } from './trainer.cases';

const CASES = '/test/browser/trainer.cases.ts';

/** Characters of the Brown corpus these tests train on: enough for 200 steps without repeating much. */
const CORPUS_CHARS = 400_000;

let data: { train: number[]; validation: number[] };

test.beforeAll(async () => {
  const text = (await loadDefaultCorpus()).slice(0, CORPUS_CHARS);
  const dataset = TokenDataset.fromText(text, Tokenizer.byteLevel());
  data = { train: Array.from(dataset.train), validation: Array.from(dataset.validation) };
});

/** A small model SwiftShader trains in about a minute: byte vocabulary, 2 layers × 32 wide, 8 × 32 tokens a step. */
const small = (): TrainCase => ({
  config: { vocab: 256, context: 32, layers: 2, heads: 2, width: 32 },
  batchSize: 8,
  context: 32,
  steps: 200,
  lr: 3e-3,
  evalBatches: 4,
  ...data,
});

test.beforeEach(async ({ page }) => {
  await openGpuPage(page);
});

test('200 steps through the worker on the Brown corpus take the validation loss well below its start', async ({
  page,
}) => {
  test.setTimeout(600_000);
  const r = await inPage<Record<string, number | number[]>>(page, CASES, 'trainThroughWorker', small());
  console.log(
    `validation loss ${r.before} -> ${r.after}; train loss ${r.firstLoss} -> ${r.lastLoss}; ${r.steps} steps in ${r.ms} ms; GPU busy ${r.gpuBusyFraction}`,
  );
  // At init the loss is about ln(256) = 5.55; byte-level English is learnable well below that.
  expect(r.before).toBeGreaterThan(5);
  expect(r.after).toBeLessThan((r.before as number) - 1.5);
  expect(r.steps).toBe(200);
  expect(r.progress).toBe(200);
  expect(r.tokens).toBe(200 * 8 * 32);
  expect(r.flops).toBeGreaterThan(0);
  expect(r.pseudoGradientNorm).toBeGreaterThan(0);
  expect(r.sample).toHaveLength(5);
});

test('cancel() stops training between steps and returns the partial update', async ({ page }) => {
  const r = await inPage<{ cancelled: boolean; steps: number; length: number }>(
    page,
    CASES,
    'cancelStopsTraining',
    small(),
  );
  expect(r.cancelled).toBe(true);
  expect(r.steps).toBeGreaterThanOrEqual(2);
  expect(r.steps).toBeLessThan(10);
  expect(r.length).toBeGreaterThan(0);
});

test('a lost GPU device fails the call clearly and the rebuilt trainer continues', async ({ page }) => {
  const r = await inPage<{ error: string; before: number; after: number }>(page, CASES, 'deviceLossRecovers', small());
  expect(r.error).toMatch(/GPU device lost during evaluate .* rebuilt with the last parameters/);
  expect(r.after).toBeCloseTo(r.before, 5);
});

test('the worker rejects calls out of order and bad arguments with clear errors', async ({ page }) => {
  const messages = await inPage<string[]>(page, CASES, 'trainerRejects', small());
  expect(messages[0]).toMatch(/no data: call loadData\(\) first/);
  expect(messages[1]).toMatch(/no data: call loadData\(\) first/);
  expect(messages[2]).toMatch(/trainer not initialised: call init\(\) first/);
  expect(messages[3]).toMatch(/steps must be a positive integer, got 0/);
  expect(messages[4]).toMatch(/heads \(3\) must divide width \(32\)/);
});
