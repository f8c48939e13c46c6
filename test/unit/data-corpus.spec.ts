import { writeFile } from 'node:fs/promises';
import { expect, test } from '@playwright/test';
import { splitText, stripBrownTags, Tokenizer } from '../../src/data';
import { loadDefaultCorpus, textFromFile } from '../../src/data/corpus';

/** Training the tokenizer on a slice keeps this test quick; the seed trains on the whole training split. */
const TRAINING_SLICE = 1_000_000;

test('Brown tags strip to readable English: quotes, punctuation, slashes in words, headlines, paragraphs', () => {
  const tagged =
    "\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' (/( 1/2/cd of/in it/pps )/) ./.\n" +
    "It/pps urged/vbd and/or/cc begged/vbd ;/. Atlanta's/np$ mayor/nn ?/.\n\n\n" +
    'Merger/nn-hl proposed/vbn-hl \nHowever/wrb ,/, it/pps held/vbd ./.\n';
  expect(stripBrownTags(tagged)).toBe(
    'The jury said "no evidence" (1/2 of it). It urged and/or begged; Atlanta\'s mayor?\n\n' +
      'Merger proposed\n\nHowever, it held.',
  );
});

test('the default corpus is the Brown Corpus as plain text, and BPE compresses it', async () => {
  test.setTimeout(120_000);
  const text = await loadDefaultCorpus();
  expect(text.length).toBeGreaterThan(5_000_000);
  expect(text.startsWith('The Fulton County Grand Jury said Friday an investigation')).toBe(true);
  expect(text).not.toMatch(/\w\/(at|nn|vbd|in)\b/); // no part-of-speech tags left
  expect(text.split('\n\n').length).toBeGreaterThan(10_000);

  const tokenizer = Tokenizer.train(splitText(text).train.slice(0, TRAINING_SLICE), 512);
  const sample = splitText(text).validation.slice(0, TRAINING_SLICE);
  const tokens = tokenizer.encode(sample);
  expect(tokenizer.decode(tokens)).toBe(sample);
  expect(sample.length / tokens.length).toBeGreaterThan(1.9); // characters per token on held-out text
});

test('textFromFile reads any UTF-8 file, drops a byte-order mark, and refuses other bytes', async () => {
  const good = test.info().outputPath('good.txt');
  await writeFile(good, '\ufeffHéllo 👋\n', 'utf8');
  expect(await textFromFile(good)).toBe('Héllo 👋\n');
  const bad = test.info().outputPath('bad.bin');
  await writeFile(bad, Uint8Array.of(0x48, 0xff, 0xfe, 0x00));
  await expect(textFromFile(bad)).rejects.toThrow(/bad\.bin line 1: binary bytes \(0x00\), not text/);
  const latin1 = test.info().outputPath('latin1.txt');
  await writeFile(latin1, Uint8Array.of(0x6f, 0x6b, 0x0a, 0x48, 0xff, 0xfe));
  await expect(textFromFile(latin1)).rejects.toThrow(/latin1\.txt line 2: not valid UTF-8 text/);
});
