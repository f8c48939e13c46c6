// A researcher's own data and model shape (issue 18, items 1 and 2): loadCorpus's three forms and
// its refusals (naming the file and line), and seeds started on them in-process: the run folder
// records the data's sha256, resuming with other data is refused, and a refused start (bad data,
// a corpus too small, a shape no tab can train) leaves no run folder behind.
import '../../src/seed'; // first: defines Promise.withResolvers for libp2p on Node 20
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { loadCorpus } from '../../src/data/corpus';
import { DEFAULT_FED_SETTINGS } from '../../src/fed/coordinator';
import type { GptConfig } from '../../src/model';
import { startSeed } from '../../src/seed';
import type { DataSource } from '../../src/seed/data';

let dir: string;
let appDir: string;

test.beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vgpu-seed-data-'));
  appDir = join(dir, 'app');
  await mkdir(appDir, { recursive: true });
  await writeFile(join(appDir, 'index.html'), '<!doctype html><title>volunteer</title>');
});

test.afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let files = 0;
/** Writes `body` to a new file (or, for a name ending in /, nothing: a folder) and returns its path. */
async function put(name: string, body: string | Uint8Array): Promise<string> {
  const path = join(dir, `in-${++files}`, name);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, body);
  return path;
}

/** Some thousands of tokens of made-up words, varied enough for a tokenizer of a few hundred tokens. */
function prose(seed: number, sentences = 400): string {
  const syllables = ['ka', 'lo', 'mi', 'ner', 'tu', 'sa', 'vel', 'or', 'pi', 'dan', 'ge', 'rho', 'fi', 'lu', 'zen'];
  let x = seed;
  const next = () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x >> 8;
  };
  const word = () => Array.from({ length: 1 + (next() % 3) }, () => syllables[next() % syllables.length]).join('');
  return Array.from({ length: sentences }, () => Array.from({ length: 6 + (next() % 6) }, word).join(' ')).join('. ');
}

test('loadCorpus reads a .txt file, a folder of .txt files in name order, and a .jsonl file of "text" fields', async () => {
  const one = await loadCorpus(await put('one.txt', 'alpha beta'));
  expect(one.text).toBe('alpha beta');
  expect(one.sha256).toMatch(/^[0-9a-f]{64}$/);

  const folder = join(dir, 'folder');
  await mkdir(folder);
  await writeFile(join(folder, 'b.txt'), 'second');
  await writeFile(join(folder, 'a.txt'), 'first');
  await writeFile(join(folder, 'notes.md'), 'not read');
  const corpus = await loadCorpus(folder);
  expect(corpus.text).toBe('first\n\nsecond');
  expect(corpus.files.map((f) => f.slice(folder.length + 1))).toEqual(['a.txt', 'b.txt']);
  // The hash is of names and bytes, not of where the folder lies; a changed file changes it.
  const copy = join(dir, 'copy');
  await mkdir(copy);
  await writeFile(join(copy, 'a.txt'), 'first');
  await writeFile(join(copy, 'b.txt'), 'second');
  expect((await loadCorpus(copy)).sha256).toBe(corpus.sha256);
  await writeFile(join(copy, 'b.txt'), 'second!');
  expect((await loadCorpus(copy)).sha256).not.toBe(corpus.sha256);

  const jsonl = await loadCorpus(await put('c.jsonl', '{"text": "one"}\n\n{"text": "two", "id": 2}\n'));
  expect(jsonl.text).toBe('one\n\ntwo');
});

test('loadCorpus refuses an empty file or folder, binary bytes, invalid UTF-8 and bad JSON lines, naming the file and line', async () => {
  const empty = await put('empty.txt', '');
  await expect(loadCorpus(empty)).rejects.toThrow(`${empty}: the file is empty`);
  const blank = await put('blank.txt', '\n  \n');
  await expect(loadCorpus(blank)).rejects.toThrow(`--data ${blank}: the corpus is empty`);
  const noTxt = join(dir, 'no-txt');
  await mkdir(noTxt);
  await writeFile(join(noTxt, 'data.bin'), 'x');
  await expect(loadCorpus(noTxt)).rejects.toThrow(`--data ${noTxt}: the folder holds no .txt files`);
  await expect(loadCorpus(join(dir, 'missing'))).rejects.toThrow(/no such file or folder/);

  const binary = await put('binary.txt', new Uint8Array([...Buffer.from('line one\nline two\n'), 0x00, 0x01, 0x02]));
  await expect(loadCorpus(binary)).rejects.toThrow(`${binary} line 3: binary bytes (0x00), not text`);
  const latin1 = await put('latin1.txt', new Uint8Array([...Buffer.from('ok\ncaf'), 0xe9, 0x0a]));
  await expect(loadCorpus(latin1)).rejects.toThrow(`${latin1} line 2: not valid UTF-8 text`);

  const notJson = await put('bad.jsonl', '{"text": "fine"}\n{"text": oops}\n');
  await expect(loadCorpus(notJson)).rejects.toThrow(new RegExp(`^${notJson} line 2: not JSON`));
  const noText = await put('fields.jsonl', '{"text": "fine"}\n\n{"body": "where is text"}\n');
  await expect(loadCorpus(noText)).rejects.toThrow(`${noText} line 3: no "text" string field`);
});

/** A small model the tests' corpora can feed: a vocabulary of 300, sequences of 16. */
const SHAPE: GptConfig = { vocab: 300, context: 32, layers: 1, heads: 2, width: 16 };
const FED = { hyper: { ...DEFAULT_FED_SETTINGS.hyper, context: 16 } };

/** A seed on `runDir`; without `model`, the folder's own. */
async function startOn(runDir: string, data: string | undefined, model?: GptConfig) {
  return startSeed({ runDir, httpPort: 0, p2pPort: 0, appDir, model, data, fed: FED });
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

test("a seed trains on the researcher's data and shape, records the data's sha256, and refuses other data on resume", async () => {
  const corpus = await put('corpus.txt', prose(1));
  const runDir = join(dir, 'own-run');
  const seed = await startOn(runDir, corpus, SHAPE);
  let sourceBytes: Buffer;
  try {
    const source = JSON.parse(await readFile(join(runDir, 'data', 'source.json'), 'utf8')) as DataSource;
    expect(source).toMatchObject({ kind: 'path', path: corpus, sha256: (await loadCorpus(corpus)).sha256, vocab: 300 });
    sourceBytes = await readFile(join(runDir, 'data', 'source.json'));
    const run = JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8')) as { model: GptConfig };
    expect(run.model).toEqual(SHAPE);
    expect(seed.manifest.value.model).toEqual(SHAPE);
    const tokenizer = JSON.parse(await readFile(join(runDir, 'data', 'tokenizer.json'), 'utf8')) as {
      merges: unknown[];
    };
    expect(tokenizer.merges).toHaveLength(300 - 256);
  } finally {
    await seed.stop();
  }
  // Other data: refused, saying which data the folder holds; the folder is as it was.
  const other = await put('other.txt', prose(2));
  await expect(startOn(runDir, other, SHAPE)).rejects.toThrow(
    new RegExp(`^run folder ${runDir} was made from --data ${corpus} \\(sha256 [0-9a-f]{16}…\\), not --data ${other}`),
  );
  expect(Buffer.compare(await readFile(join(runDir, 'data', 'source.json')), sourceBytes)).toBe(0);
  // The same data, or none (the folder holds its tokens), resumes; another shape is refused.
  for (const data of [corpus, undefined]) {
    const again = await startOn(runDir, data);
    expect(again.manifest.value.model).toEqual(SHAPE);
    await again.stop();
  }
  await expect(startOn(runDir, corpus, { ...SHAPE, layers: 2 })).rejects.toThrow(/holds a different model/);
  // A folder of the Brown corpus (no --data) refuses the researcher's data too.
  const brownRun = join(dir, 'brown-run');
  await mkdir(join(brownRun, 'data'), { recursive: true });
  await writeFile(join(brownRun, 'data', 'source.json'), JSON.stringify({ kind: 'brown', sha256: 'ab'.repeat(32) }));
  await expect(startOn(brownRun, corpus, SHAPE)).rejects.toThrow(
    `run folder ${brownRun} was made from the built-in Brown corpus, not --data ${corpus}`,
  );
});

test('a refused start leaves no run folder: bad bytes, a corpus too small, a vocabulary it cannot fill, a shape no tab trains', async () => {
  const cases: [string, () => Promise<string | undefined>, GptConfig, RegExp | string][] = [
    ['binary', () => put('b.txt', new Uint8Array([0x41, 0x0a, 0x07])), SHAPE, /line 2: binary bytes \(0x07\)/],
    [
      'too small',
      () => put('small.txt', prose(3, 60)),
      SHAPE,
      /the corpus is too small: its training split holds \d+ tokens, and 64 shards of at least one sequence of 16 tokens need 1088/,
    ],
    [
      'vocabulary',
      () => put('tiny.txt', 'ab ab ab ab'),
      { ...SHAPE, vocab: 2000 },
      /the tokenizer learned only \d+ of --vocab 2000 tokens from it/,
    ],
    ['head dimension', async () => undefined, { ...SHAPE, width: 512, heads: 2 }, /head dimension 256 exceeds 128/],
    [
      'model bytes',
      async () => undefined,
      { vocab: 1024, context: 64, layers: 40, heads: 8, width: 512 },
      /every tab would refuse this run's rounds: model weights \(bytes\) is \d+, over the bound of 67108864/,
    ],
  ];
  for (const [name, data, model, error] of cases) {
    const runDir = join(dir, `refused-${name.replace(' ', '-')}`);
    await expect(startOn(runDir, await data(), model), name).rejects.toThrow(error);
    expect(await exists(runDir), `${name}: ${runDir} ${await readdir(runDir).catch(() => [])}`).toBe(false);
  }
});

test('--grid: the schedule is served at /grid.json (404 without one); a bad file stops the start, naming it', async () => {
  const csv = await put(
    'grid.csv',
    [
      'Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),Carbon Intensity gCO₂eq/kWh (life cycle assessment)',
      '2026-12-01 00:00:00,Germany,Germany,DE,300,350',
    ].join('\n'),
  );
  const corpus = await put('corpus.txt', prose(4));
  const runDir = join(dir, 'grid-run');
  const seed = await startSeed({
    runDir,
    httpPort: 0,
    p2pPort: 0,
    appDir,
    model: SHAPE,
    data: corpus,
    fed: FED,
    grid: [csv],
  });
  try {
    const res = await fetch(`${seed.url}grid.json`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      kind: 'vgpu/grid',
      version: 1,
      source: 'grid.csv',
      regions: { DE: [{ start: Date.parse('2026-12-01T00:00:00Z'), gCO2PerKWh: 350 }] },
    });
  } finally {
    await seed.stop();
  }
  const plain = await startOn(runDir, undefined);
  try {
    const none = await fetch(`${plain.url}grid.json`);
    expect(none.status).toBe(404);
    // Readable by a page of another origin (a tab pointed at this seed with ?seed=), which then hides the option.
    expect(none.headers.get('access-control-allow-origin')).toBe('*');
  } finally {
    await plain.stop();
  }
  const bad = await put('bad-grid.csv', 'when,where,how much\n1,2,3\n');
  const refused = join(dir, 'grid-refused');
  await expect(
    startSeed({ runDir: refused, httpPort: 0, p2pPort: 0, appDir, model: SHAPE, data: corpus, fed: FED, grid: [bad] }),
  ).rejects.toThrow(`${bad} line 1: not an Electricity Maps CSV`);
  expect(await exists(refused)).toBe(false);
});
