// The trainer worker through the tab's trainer client: it learns, encodes its update with error
// feedback kept beside it, keeps tuned tiles, cancels between steps, survives a lost device, and
// refuses calls out of order. One page for the file: its IndexedDB (tuned tiles, residual) carries
// from test to test, as a volunteer's does from round to round.
import { expect, type Page, test } from '@playwright/test';
import { TokenDataset, Tokenizer } from '../../src/data';
import { loadDefaultCorpus } from '../../src/data/corpus';
import { inPage, openGpuPage } from '../harness/page';
import type { TrainCase } from './trainer.cases';

const CASES = '/test/browser/trainer.cases.ts';

/** Characters of the Brown corpus these tests train on: enough for the learning test without repeating much. */
const CORPUS_CHARS = 200_000;
/** Steps of the learning test. */
const STEPS = 40;

test.describe.configure({ mode: 'serial' });

let data: { train: number[]; validation: number[] };
let page: Page;

test.beforeAll(async ({ browser }) => {
  const text = (await loadDefaultCorpus()).slice(0, CORPUS_CHARS);
  const dataset = TokenDataset.fromText(text, Tokenizer.byteLevel());
  data = { train: Array.from(dataset.train), validation: Array.from(dataset.validation) };
  page = await browser.newPage();
  await openGpuPage(page);
});

test.afterAll(async () => {
  await page.close();
});

/** A small model SwiftShader trains quickly: byte vocabulary, 2 layers × 32 wide, 8 × 32 tokens a step. */
const small = (): TrainCase => ({
  config: { vocab: 256, context: 32, layers: 2, heads: 2, width: 32 },
  batchSize: 8,
  context: 32,
  steps: STEPS,
  lr: 1.5e-2,
  evalBatches: 4,
  ...data,
});

test('tiles are tuned on the first init on this adapter and kept for the next', async () => {
  test.setTimeout(300_000);
  const r = await inPage<{ before: string[]; after: string[]; sources: string[] }>(
    page,
    CASES,
    'tilesAreKept',
    small(),
  );
  expect(r.before).toEqual([]);
  expect(r.after).toHaveLength(1);
  expect(r.sources).toEqual(['tuned', 'kept']);
});

test(`${STEPS} steps through the worker on the Brown corpus take the validation loss well below its start`, async () => {
  test.setTimeout(300_000);
  const r = await inPage<Record<string, number | number[]>>(page, CASES, 'trainThroughWorker', small());
  console.log(
    `validation loss ${r.before} -> ${r.after}; train loss ${r.firstLoss} -> ${r.lastLoss}; ${r.steps} steps in ${r.ms} ms; GPU busy ${r.gpuBusyFraction}`,
  );
  // At init the loss is about ln(256) = 5.55; a model that has learned English's byte frequencies
  // is below 3.3 (their entropy is about 3 nats), so a drop of 2 nats is learning, not noise.
  expect(r.before).toBeGreaterThan(5);
  expect(r.after).toBeLessThan((r.before as number) - 2);
  expect(r.steps).toBe(STEPS);
  expect(r.progress).toBe(STEPS);
  expect(r.tokens).toBe(STEPS * 8 * 32);
  expect(r.flops).toBeGreaterThan(0);
  // The fp32 update is the dense pseudo-gradient plus a small header, and it is not zero.
  expect(r.denseBytes).toBe(4 * (r.parameters as number));
  expect(r.updateBytes).toBeGreaterThan(r.denseBytes as number);
  expect(r.updateNorm).toBeGreaterThan(0);
  expect(r.sample).toHaveLength(5);
});

test('a round that names a second moment starts AdamW from it on the GPU as on the CPU reference, and both report the same codes', async () => {
  test.setTimeout(300_000);
  const r = await inPage<{ codes: number; codesOff: number; relativeError: number; changedByCodes: number }>(
    page,
    CASES,
    'secondMomentAgainstCpu',
    small(),
  );
  // Codes are log2 steps of a quarter: f32 differences between the two trainers move a block's
  // mean by far less, so at most a block on a code boundary differs by one.
  expect(r.codesOff).toBe(0);
  // Two AdamW steps from the same v: GPU and CPU agree to f32 summation-order differences (the
  // GPT parity test's scale); the codes changed the update by far more.
  expect(r.relativeError).toBeLessThan(1e-3);
  expect(r.changedByCodes).toBeGreaterThan(0.1);
});

test('error feedback stays beside the trainer: carried only after the seed accepts, kept across a reload', async () => {
  const r = await inPage<Record<string, boolean | number>>(page, CASES, 'errorFeedbackStaysInTheTrainer', small());
  // Until an update is accepted, the same steps from the same weights encode to the same bytes.
  expect(r.repeatable).toBe(true);
  expect(r.keptBefore).toBe(true);
  // Accepted: the residual (what int8 lost) is kept, full length and not zero, and changes the next encoding.
  expect(r.keptLength).toBe(r.parameters);
  expect(r.keptNorm).toBeGreaterThan(0);
  expect(r.carried).toBe(true);
  // A new worker starts from the kept residual.
  expect(r.reloadedCarries).toBe(true);
});

test('cancel() from the progress callback stops training after that step and returns the partial update', async () => {
  const r = await inPage<{ cancelled: boolean; steps: number; bytes: number }>(
    page,
    CASES,
    'cancelStopsTraining',
    small(),
  );
  expect(r.cancelled).toBe(true);
  // The callback is awaited before the next step: exactly the two steps before the cancel ran.
  expect(r.steps).toBe(2);
  expect(r.bytes).toBeGreaterThan(0);
});

test('a lost GPU device fails the call clearly and the rebuilt trainer continues', async () => {
  const r = await inPage<{ error: string; before: number; after: number }>(page, CASES, 'deviceLossRecovers', small());
  expect(r.error).toMatch(/GPU device lost during evaluate .* rebuilt with the last parameters/);
  expect(r.after).toBeCloseTo(r.before, 5);
});

test('the worker rejects calls out of order and bad arguments with clear errors', async () => {
  const messages = await inPage<string[]>(page, CASES, 'trainerRejects', small());
  expect(messages[0]).toMatch(/no data: call loadData\(\) first/);
  expect(messages[1]).toMatch(/no data: call loadData\(\) first/);
  expect(messages[2]).toMatch(/trainer not initialised: call init\(\) first/);
  expect(messages[3]).toMatch(/steps must be a positive integer, got 0/);
  expect(messages[4]).toMatch(/heads \(3\) must divide width \(32\)/);
});
