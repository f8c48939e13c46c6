// The run's training data: the default corpus, a BPE tokenizer trained on it, and the token
// files volunteers download (uint16, little-endian), cached in the run folder.
import { join } from 'node:path';
import { fromU16Bytes, TokenDataset, Tokenizer, type TokenizerJson, toU16Bytes } from '../data';
import { loadDefaultCorpus } from '../data/corpus';
import { sha256Hex } from '../swarm';
import { readIfExists, writeFileAtomic } from './files';

export interface RunData {
  tokenizer: Tokenizer;
  dataset: TokenDataset;
  /** The files served at /data/…, and their sha256 (named in every round manifest). */
  files: { train: Uint8Array; validation: Uint8Array; tokenizer: Uint8Array };
  sha256: { train: string; validation: string };
}

export async function loadOrCreateData(runDir: string, vocab: number): Promise<RunData> {
  const dir = join(runDir, 'data');
  const [tok, train, validation] = await Promise.all(
    ['tokenizer.json', 'train.u16', 'validation.u16'].map((f) => readIfExists(join(dir, f))),
  );
  let files: RunData['files'];
  if (tok && train && validation) {
    files = { tokenizer: tok, train, validation };
  } else {
    const text = await loadDefaultCorpus();
    const tokenizer = Tokenizer.train(text, vocab);
    const dataset = TokenDataset.fromText(text, tokenizer);
    files = {
      tokenizer: new TextEncoder().encode(JSON.stringify(tokenizer.toJSON())),
      train: toU16Bytes(dataset.train),
      validation: toU16Bytes(dataset.validation),
    };
    await writeFileAtomic(join(dir, 'tokenizer.json'), files.tokenizer);
    await writeFileAtomic(join(dir, 'train.u16'), files.train);
    await writeFileAtomic(join(dir, 'validation.u16'), files.validation);
  }
  const tokenizer = Tokenizer.fromJSON(JSON.parse(new TextDecoder().decode(files.tokenizer)) as TokenizerJson);
  if (tokenizer.vocabSize !== vocab)
    throw new Error(`run folder ${runDir}: the tokenizer has ${tokenizer.vocabSize} tokens, the model ${vocab}`);
  return {
    tokenizer,
    dataset: new TokenDataset(fromU16Bytes(files.train), fromU16Bytes(files.validation)),
    files,
    sha256: { train: await sha256Hex(files.train), validation: await sha256Hex(files.validation) },
  };
}
