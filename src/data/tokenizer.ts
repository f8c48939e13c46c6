/**
 * A byte-level byte-pair-encoding tokenizer (GPT-2 style), trained by our own code.
 * Tokens 0–255 are the UTF-8 bytes, so any text encodes and decodes exactly; token
 * 256 + i is merge i, the concatenation of an earlier pair. With no merges it is the
 * plain byte tokenizer. Text is first cut into chunks (a word with its leading space,
 * a number, a run of punctuation, whitespace) and merges never cross a chunk, so the
 * vocabulary learns words and word pieces rather than phrases.
 */

/** One token per UTF-8 byte before any merge. */
export const BYTE_VOCAB_SIZE = 256;
/** Token ids must fit in 16 bits, so a dataset could ship as Uint16Array. */
export const MAX_VOCAB_SIZE = 65536;
/** A good size for the tiny GPTs the swarm trains: 768 merges of the training text. */
export const DEFAULT_VOCAB_SIZE = 1024;
/** Version of the JSON form; bump it when the chunking or the merge rule changes. */
export const TOKENIZER_VERSION = 1;
/** Encoded chunks kept for reuse; English repeats few enough distinct words that this catches nearly all. */
const CHUNK_CACHE_LIMIT = 200_000;
/** Tokens the output of `encode` starts with room for; it doubles as needed. */
const ENCODE_INITIAL_CAPACITY = 1024;

/** GPT-2's pre-tokenizer without its English contraction rules. Its alternatives cover every character. */
const CHUNK = / ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** The serialised tokenizer the seed ships to the tabs. */
export interface TokenizerJson {
  type: 'byte-bpe';
  version: number;
  /** merges[i] = [left, right]: the pair that becomes token 256 + i. */
  merges: [number, number][];
}

/** A pair of token ids as one number, a map key (ids are below 2^16). */
function pairKey(left: number, right: number): number {
  return left * MAX_VOCAB_SIZE + right;
}

const utf8 = new TextEncoder();

/** The text cut into chunks; concatenated, they give the text back. */
function chunks(text: string): string[] {
  return text.match(CHUNK) ?? [];
}

/** Replaces every non-overlapping (left, right) in `ids`, left to right, with `merged`. */
function mergePair(ids: number[], left: number, right: number, merged: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (i + 1 < ids.length && ids[i] === left && ids[i + 1] === right) {
      out.push(merged);
      i++;
    } else {
      out.push(ids[i]!);
    }
  }
  return out;
}

export class Tokenizer {
  /** Merge rank by pair: a lower rank was learned earlier and is applied first. */
  private readonly ranks = new Map<number, number>();
  /** The bytes each token stands for. */
  private readonly pieces: Uint8Array[] = [];
  private readonly cache = new Map<string, number[]>();

  private constructor(private readonly merges: [number, number][]) {
    for (let b = 0; b < BYTE_VOCAB_SIZE; b++) this.pieces.push(Uint8Array.of(b));
    merges.forEach(([left, right], rank) => {
      const id = BYTE_VOCAB_SIZE + rank;
      if (!Number.isInteger(left) || !Number.isInteger(right) || left < 0 || right < 0 || left >= id || right >= id) {
        throw new Error(
          `tokenizer: merge ${rank} ([${left}, ${right}]) must join two earlier tokens (ids below ${id})`,
        );
      }
      if (this.ranks.has(pairKey(left, right)))
        throw new Error(`tokenizer: merge ${rank} ([${left}, ${right}]) repeats an earlier merge`);
      this.ranks.set(pairKey(left, right), rank);
      const piece = new Uint8Array(this.pieces[left]!.length + this.pieces[right]!.length);
      piece.set(this.pieces[left]!);
      piece.set(this.pieces[right]!, this.pieces[left]!.length);
      this.pieces.push(piece);
    });
  }

  /** The plain byte tokenizer: 256 tokens, one per UTF-8 byte. */
  static byteLevel(): Tokenizer {
    return new Tokenizer([]);
  }

  /**
   * Learns `vocabSize − 256` merges from `text`: each round merges the most frequent
   * adjacent pair (ties go to the smaller pair of ids), so the result depends on the
   * text alone. Stops early, with a smaller vocabulary, when no pair is left to merge.
   */
  static train(text: string, vocabSize = DEFAULT_VOCAB_SIZE): Tokenizer {
    if (!Number.isInteger(vocabSize) || vocabSize < BYTE_VOCAB_SIZE || vocabSize > MAX_VOCAB_SIZE) {
      throw new Error(
        `tokenizer: vocabSize must be an integer in [${BYTE_VOCAB_SIZE}, ${MAX_VOCAB_SIZE}], got ${vocabSize}`,
      );
    }
    // Train on distinct chunks with their counts: English repeats words, so this is far smaller than the text.
    const counts = new Map<string, number>();
    for (const chunk of chunks(text)) counts.set(chunk, (counts.get(chunk) ?? 0) + 1);
    const words = [...counts.keys()].map((chunk) => Array.from(utf8.encode(chunk)));
    const weights = [...counts.values()];

    const pairCounts = new Map<number, number>();
    // Words that held each pair at some time; stale entries are fine, each is checked before merging.
    const holders = new Map<number, number[]>();
    const addPairs = (w: number, weight: number) => {
      const ids = words[w]!;
      for (let i = 0; i + 1 < ids.length; i++) {
        const key = pairKey(ids[i]!, ids[i + 1]!);
        const count = (pairCounts.get(key) ?? 0) + weight;
        if (count === 0) pairCounts.delete(key);
        else pairCounts.set(key, count);
        if (weight > 0) {
          const list = holders.get(key);
          if (list === undefined) holders.set(key, [w]);
          else list.push(w);
        }
      }
    };
    for (let w = 0; w < words.length; w++) addPairs(w, weights[w]!);

    const merges: [number, number][] = [];
    const mergedAt = new Int32Array(words.length).fill(-1); // the merge that last visited each word: skips duplicate holders
    while (BYTE_VOCAB_SIZE + merges.length < vocabSize) {
      let best = -1;
      let bestCount = 0;
      for (const [key, count] of pairCounts) {
        if (count > bestCount || (count === bestCount && key < best)) [best, bestCount] = [key, count];
      }
      if (best < 0) break;
      const left = Math.floor(best / MAX_VOCAB_SIZE);
      const right = best % MAX_VOCAB_SIZE;
      const merged = BYTE_VOCAB_SIZE + merges.length;
      // Take each holder's old pairs out of the counts, merge, put its new pairs in.
      for (const w of holders.get(best)!) {
        if (mergedAt[w] === merges.length) continue;
        mergedAt[w] = merges.length;
        addPairs(w, -weights[w]!);
        words[w] = mergePair(words[w]!, left, right, merged);
        addPairs(w, weights[w]!);
      }
      // The new id is fresh, so no later merge can make this pair again.
      holders.delete(best);
      merges.push([left, right]);
    }
    return new Tokenizer(merges);
  }

  /** Rebuilds a tokenizer from `toJSON()`'s output, checking it. */
  static fromJSON(json: TokenizerJson): Tokenizer {
    if (json.type !== 'byte-bpe' || json.version !== TOKENIZER_VERSION) {
      throw new Error(
        `tokenizer: expected type byte-bpe version ${TOKENIZER_VERSION}, got ${json.type} version ${json.version}`,
      );
    }
    if (!Array.isArray(json.merges) || BYTE_VOCAB_SIZE + json.merges.length > MAX_VOCAB_SIZE) {
      throw new Error(`tokenizer: merges must be an array of at most ${MAX_VOCAB_SIZE - BYTE_VOCAB_SIZE} pairs`);
    }
    return new Tokenizer(
      json.merges.map((pair, rank) => {
        if (!Array.isArray(pair) || pair.length !== 2)
          throw new Error(`tokenizer: merge ${rank} must be a pair of token ids`);
        return [pair[0], pair[1]];
      }),
    );
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  toJSON(): TokenizerJson {
    return { type: 'byte-bpe', version: TOKENIZER_VERSION, merges: this.merges.map(([left, right]) => [left, right]) };
  }

  encode(text: string): Uint32Array {
    let out = new Uint32Array(ENCODE_INITIAL_CAPACITY);
    let length = 0;
    for (const chunk of chunks(text)) {
      const ids = this.encodeChunk(chunk);
      if (length + ids.length > out.length) {
        const grown = new Uint32Array(2 * (length + ids.length));
        grown.set(out.subarray(0, length));
        out = grown;
      }
      for (const id of ids) out[length++] = id;
    }
    return out.slice(0, length);
  }

  /** Decodes token ids to text; byte sequences that are not UTF-8 (possible mid-character) become U+FFFD. */
  decode(tokens: ArrayLike<number>): string {
    let length = 0;
    for (let i = 0; i < tokens.length; i++) length += this.piece(tokens[i]!).length;
    const bytes = new Uint8Array(length);
    let at = 0;
    for (let i = 0; i < tokens.length; i++) {
      const piece = this.piece(tokens[i]!);
      bytes.set(piece, at);
      at += piece.length;
    }
    return new TextDecoder().decode(bytes);
  }

  private piece(token: number): Uint8Array {
    const piece = this.pieces[token];
    if (piece === undefined)
      throw new RangeError(`tokenizer: token ${token} is not below the vocabulary size ${this.vocabSize}`);
    return piece;
  }

  /** Applies merges in rank order, as training learned them: always the lowest-ranked pair present next. */
  private encodeChunk(chunk: string): number[] {
    const cached = this.cache.get(chunk);
    if (cached !== undefined) return cached;
    let ids = Array.from(utf8.encode(chunk));
    for (;;) {
      let bestRank = Infinity;
      for (let i = 0; i + 1 < ids.length; i++) {
        const rank = this.ranks.get(pairKey(ids[i]!, ids[i + 1]!));
        if (rank !== undefined && rank < bestRank) bestRank = rank;
      }
      if (bestRank === Infinity) break;
      const [left, right] = this.merges[bestRank]!;
      ids = mergePair(ids, left, right, BYTE_VOCAB_SIZE + bestRank);
    }
    if (this.cache.size >= CHUNK_CACHE_LIMIT) this.cache.clear();
    this.cache.set(chunk, ids);
    return ids;
  }
}
