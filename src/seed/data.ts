// The run's training data: a corpus (the Brown corpus by default, or the researcher's --data), a BPE
// tokenizer trained on it, and the token files volunteers download (uint16, little-endian), kept in
// the run folder with a record of where they came from (data/source.json). A run keeps its data:
// resuming with another corpus is refused.
import { join } from 'node:path';
import { fromU16Bytes, TokenDataset, Tokenizer, type TokenizerJson, toU16Bytes } from '../data';
import { type Corpus, loadCorpus, loadDefaultCorpus } from '../data/corpus';
import { sha256Hex } from '../swarm';
import { MAX_TOKEN_FILE_BYTES } from '../tab/limits';
import { readIfExists, writeFileAtomic } from './files';

export interface RunData {
  tokenizer: Tokenizer;
  dataset: TokenDataset;
  /** The files served at /data/…, and their sha256 (named in every round manifest). */
  files: { train: Uint8Array; validation: Uint8Array; tokenizer: Uint8Array };
  sha256: { train: string; validation: string };
  source: DataSource;
}

/** data/source.json: the corpus the token files were made from. */
export interface DataSource {
  /** `brown`: the built-in Brown corpus; `path`: the researcher's --data. */
  kind: 'brown' | 'path';
  /** The --data path as given (for the log and the dashboard; the sha256 is what is compared). */
  path?: string;
  /** Corpus.sha256 of a `path` corpus; the sha256 of the Brown corpus's text for `brown`. */
  sha256: string;
  vocab: number;
  createdAt: string;
}

/** What the run asks of its data. */
export interface DataRequest {
  /** The researcher's corpus (loadCorpus's path); the Brown corpus without one. */
  corpus?: string;
  /**
   * The rounds' shape the data must hold: each of `shardCount` training shards, and the validation
   * split, at least one sequence of `context` tokens (and its next-token target).
   */
  fits?: { shardCount: number; context: number };
}

const FILES = ['tokenizer.json', 'train.u16', 'validation.u16', 'source.json'] as const;

/**
 * The run folder's data, made from the corpus when the folder has none. Everything is checked in
 * memory before the first file is written, so bad data leaves the folder as it was.
 */
export async function loadOrCreateData(runDir: string, vocab: number, request: DataRequest = {}): Promise<RunData> {
  const dir = join(runDir, 'data');
  const [tok, train, validation, sourceJson] = await Promise.all(FILES.map((f) => readIfExists(join(dir, f))));
  const made = tok && train && validation;
  // Folders made before data/source.json existed hold the Brown corpus's tokens.
  const recorded: DataSource | undefined = sourceJson
    ? (JSON.parse(sourceJson.toString('utf8')) as DataSource)
    : made
      ? { kind: 'brown', sha256: '', vocab, createdAt: '' }
      : undefined;
  const corpus = request.corpus === undefined ? undefined : await loadCorpus(request.corpus);
  if (recorded && corpus && corpus.sha256 !== recorded.sha256)
    throw new Error(
      `run folder ${runDir} was made from ${recorded.kind === 'brown' ? 'the built-in Brown corpus' : `--data ${recorded.path} (sha256 ${recorded.sha256.slice(0, 16)}…)`}, not --data ${request.corpus} (sha256 ${corpus.sha256.slice(0, 16)}…): resume without --data or with the same data, or start another --run folder`,
    );
  let data: RunData;
  if (made && recorded) {
    data = await runData({ tokenizer: tok, train, validation }, recorded);
  } else {
    if (!corpus && recorded?.kind === 'path')
      throw new Error(
        `run folder ${runDir}: its token files are missing; give --data ${recorded.path} to make them again`,
      );
    const { text, source } = corpus
      ? { text: corpus.text, source: sourceOf(corpus, request.corpus!, vocab) }
      : await brownCorpus(vocab);
    data = await tokenize(text, vocab, source);
  }
  if (request.fits) checkFits(data.dataset, request.fits, request.corpus ?? 'the run');
  if (!(made && recorded)) {
    // The record first: token files without one can then only be an older folder's Brown tokens.
    await writeFileAtomic(join(dir, 'source.json'), JSON.stringify(data.source, null, 2));
    await writeFileAtomic(join(dir, 'tokenizer.json'), data.files.tokenizer);
    await writeFileAtomic(join(dir, 'train.u16'), data.files.train);
    await writeFileAtomic(join(dir, 'validation.u16'), data.files.validation);
  }
  if (data.tokenizer.vocabSize !== vocab)
    throw new Error(`run folder ${runDir}: the tokenizer has ${data.tokenizer.vocabSize} tokens, the model ${vocab}`);
  return data;
}

function sourceOf(corpus: Corpus, path: string, vocab: number): DataSource {
  return { kind: 'path', path, sha256: corpus.sha256, vocab, createdAt: new Date().toISOString() };
}

async function brownCorpus(vocab: number): Promise<{ text: string; source: DataSource }> {
  const text = await loadDefaultCorpus();
  const sha256 = await sha256Hex(new TextEncoder().encode(text));
  return { text, source: { kind: 'brown', sha256, vocab, createdAt: new Date().toISOString() } };
}

/** Trains the tokenizer on `text`, splits off validation and encodes both; refuses what a tab cannot take. */
async function tokenize(text: string, vocab: number, source: DataSource): Promise<RunData> {
  const tokenizer = Tokenizer.train(text, vocab);
  const what = source.kind === 'path' ? `--data ${source.path}` : 'the Brown corpus';
  if (tokenizer.vocabSize < vocab)
    throw new Error(
      `${what}: the tokenizer learned only ${tokenizer.vocabSize} of --vocab ${vocab} tokens from it (no pair left to merge): give more text or a smaller --vocab`,
    );
  const dataset = TokenDataset.fromText(text, tokenizer);
  const files = {
    tokenizer: new TextEncoder().encode(JSON.stringify(tokenizer.toJSON())),
    train: toU16Bytes(dataset.train),
    validation: toU16Bytes(dataset.validation),
  };
  if (files.train.length > MAX_TOKEN_FILE_BYTES)
    throw new Error(
      `${what}: its training tokens take ${files.train.length} bytes, over the ${MAX_TOKEN_FILE_BYTES} a tab downloads (MAX_TOKEN_FILE_BYTES): give less text`,
    );
  return runData(files, source);
}

async function runData(files: RunData['files'], source: DataSource): Promise<RunData> {
  const tokenizer = Tokenizer.fromJSON(JSON.parse(new TextDecoder().decode(files.tokenizer)) as TokenizerJson);
  return {
    tokenizer,
    dataset: new TokenDataset(fromU16Bytes(files.train), fromU16Bytes(files.validation)),
    files,
    sha256: { train: await sha256Hex(files.train), validation: await sha256Hex(files.validation) },
    source,
  };
}

/** Refuses data too small for the rounds: a shard or the validation split without one whole sequence. */
function checkFits(dataset: TokenDataset, fits: NonNullable<DataRequest['fits']>, what: string): void {
  const sequence = fits.context + 1;
  const needed = fits.shardCount * sequence;
  if (dataset.train.length < needed)
    throw new Error(
      `${what}: the corpus is too small: its training split holds ${dataset.train.length} tokens, and ${fits.shardCount} shards of at least one sequence of ${fits.context} tokens need ${needed}: give more text, or shorter sequences (--seq-len)`,
    );
  if (dataset.validation.length < sequence)
    throw new Error(
      `${what}: the corpus is too small: its validation split holds ${dataset.validation.length} tokens, one sequence of ${fits.context} needs ${sequence}: give more text`,
    );
}
