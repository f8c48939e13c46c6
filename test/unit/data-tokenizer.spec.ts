import { expect, test } from '@playwright/test';
import { BYTE_VOCAB_SIZE, Tokenizer, type TokenizerJson } from '../../src/data';
import { createRandom } from '../../src/util/random';

const ENGLISH =
  'The jury said it did find that many of the registration and election laws are outmoded or inadequate. ' +
  'It recommended that the legislators act to have these laws studied and revised to the end of modernizing them. ' +
  'The grand jury commented on a number of other topics, among them the purchasing departments.\n\n';
const MIXED = 'Grüße, señor! Ça va? 東京 ☃ 👋🏽 family: 👨‍👩‍👧 tab\tand\r\nnewline  double  spaces \u0000 end';

/** A string of `n` random code points: ASCII, Latin, CJK, astral (emoji), whitespace; no lone surrogates. */
function randomText(n: number, seed: number): string {
  const next = createRandom(seed);
  const ranges: [number, number][] = [
    [0x20, 0x7e],
    [0xa0, 0x24f],
    [0x4e00, 0x9fff],
    [0x1f300, 0x1faff],
    [0x09, 0x0d],
  ];
  let out = '';
  for (let i = 0; i < n; i++) {
    const [lo, hi] = ranges[Math.floor(next() * ranges.length)]!;
    out += String.fromCodePoint(lo + Math.floor(next() * (hi - lo + 1)));
  }
  return out;
}

test('the byte-level tokenizer has 256 tokens, one per UTF-8 byte', () => {
  const tokenizer = Tokenizer.byteLevel();
  expect(tokenizer.vocabSize).toBe(BYTE_VOCAB_SIZE);
  expect([...tokenizer.encode(MIXED)]).toEqual([...new TextEncoder().encode(MIXED)]);
  expect(tokenizer.decode(tokenizer.encode(MIXED))).toBe(MIXED);
  expect(tokenizer.encode('').length).toBe(0);
});

test('BPE learns hand-checked merges and applies them when encoding', () => {
  // Chunks "ab", " ab", " ab": (a,b) occurs 3 times and becomes 256; then (" ", 256) twice becomes 257.
  const tokenizer = Tokenizer.train('ab ab ab', 258);
  expect(tokenizer.toJSON().merges).toEqual([
    [97, 98],
    [32, 256],
  ]);
  expect([...tokenizer.encode('ab ab')]).toEqual([256, 257]);
  expect([...tokenizer.encode('abc')]).toEqual([256, 99]);
  // Ties go to the smaller pair: in "ba", " ab" every pair occurs once, and (" ", "a") = (32, 97) is smallest.
  expect(Tokenizer.train('ba ab', 257).toJSON().merges).toEqual([[32, 97]]);
});

test('BPE stops early when no pair is left, with a smaller vocabulary', () => {
  const tokenizer = Tokenizer.train('ab', 1000);
  expect(tokenizer.vocabSize).toBe(257);
});

test('BPE round-trips any UTF-8 text, emoji and text unseen in training included', () => {
  const tokenizer = Tokenizer.train(ENGLISH.repeat(3) + MIXED, 400);
  expect(tokenizer.vocabSize).toBe(400);
  for (const text of [ENGLISH, MIXED, '', ' ', '\n\n\n', 'x', randomText(2000, 1), randomText(2000, 2)]) {
    const tokens = tokenizer.encode(text);
    expect(tokens.every((token) => token < tokenizer.vocabSize)).toBe(true);
    expect(tokenizer.decode(tokens)).toBe(text);
  }
  // English it was trained on takes far fewer tokens than bytes.
  expect(tokenizer.encode(ENGLISH).length).toBeLessThan(ENGLISH.length / 3);
});

test('BPE training is deterministic and its JSON rebuilds an identical tokenizer', () => {
  const a = Tokenizer.train(ENGLISH + MIXED, 350);
  const b = Tokenizer.train(ENGLISH + MIXED, 350);
  expect(a.toJSON()).toEqual(b.toJSON());
  const shipped = Tokenizer.fromJSON(JSON.parse(JSON.stringify(a)) as TokenizerJson);
  expect(shipped.vocabSize).toBe(350);
  for (const text of [ENGLISH, MIXED, randomText(500, 3)])
    expect([...shipped.encode(text)]).toEqual([...a.encode(text)]);
});

test('tokenizer errors are clear', () => {
  expect(() => Tokenizer.train(ENGLISH, 100)).toThrow(/vocabSize must be an integer in \[256, 65536\]/);
  expect(() => Tokenizer.train(ENGLISH, 300.5)).toThrow(/vocabSize/);
  expect(() => Tokenizer.fromJSON({ type: 'byte-bpe', version: 99, merges: [] })).toThrow(/version 1/);
  expect(() => Tokenizer.fromJSON({ type: 'byte-bpe', version: 1, merges: [[97, 256]] })).toThrow(
    /merge 0 .* earlier tokens/,
  );
  expect(() =>
    Tokenizer.fromJSON({
      type: 'byte-bpe',
      version: 1,
      merges: [
        [97, 98],
        [97, 98],
      ],
    }),
  ).toThrow(/repeats/);
  expect(() => Tokenizer.byteLevel().decode([256])).toThrow(/token 256 is not below the vocabulary size 256/);
});
