/**
 * Token streams for training and validation, and batches drawn from them. A batch is a
 * pure function of (seed, shard, step): the seed assigns volunteer i shard i, and shard
 * i reads only the i-th of `shardCount` contiguous ranges of the tokens, so volunteers
 * train on disjoint data and any peer can recompute exactly what another one saw.
 */
import { createRandom } from '../util/random';
import type { Tokenizer } from './tokenizer';

/** The share of the text held out for validation: its end. */
export const DEFAULT_VALIDATION_FRACTION = 0.1;
/** Seeds and steps are 32-bit: they feed a 32-bit generator. */
const MAX_UINT32 = 0xffffffff;

export type Split = 'train' | 'validation';

/** `batchSize` rows of `context` tokens, row-major; targets[i] is the token after inputs[i]. */
export interface Batch {
  inputs: Uint32Array;
  targets: Uint32Array;
}

export interface BatchShape {
  batchSize: number;
  context: number;
}

export interface BatchOptions extends BatchShape {
  seed: number;
  /** Which round-local step this batch feeds; each step gets fresh windows. */
  step: number;
  /** This reader's range of the split, 0 ≤ shard < shardCount; default 0 of 1 (the whole split). */
  shard?: number;
  shardCount?: number;
}

/** The half-open range [start, end) of token positions a shard reads. */
export interface TokenRange {
  start: number;
  end: number;
}

function checkInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`dataset: ${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/** murmur3's 32-bit finaliser: a bijection that spreads every input bit over the output. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** One generator seed per (seed, shard, step); distinct steps of one shard always get distinct seeds. */
function streamSeed(seed: number, shard: number, step: number): number {
  return fmix32(fmix32(fmix32(seed) ^ shard) ^ step);
}

/**
 * Cuts `text` into a training head and a validation tail of about `validationFraction`
 * of it, at whitespace when there is any before the cut, so no word is split.
 */
export function splitText(
  text: string,
  validationFraction = DEFAULT_VALIDATION_FRACTION,
): { train: string; validation: string } {
  if (!(validationFraction > 0 && validationFraction < 1)) {
    throw new RangeError(`dataset: validationFraction must be in (0, 1), got ${validationFraction}`);
  }
  const nominal = Math.floor(text.length * (1 - validationFraction));
  let cut = nominal;
  while (cut > 0 && !/\s/.test(text[cut - 1]!)) cut--;
  if (cut === 0) {
    cut = nominal;
    // Never between the two halves of a UTF-16 surrogate pair (an emoji, say).
    const code = text.charCodeAt(cut);
    if (code >= 0xdc00 && code <= 0xdfff) cut--;
  }
  const train = text.slice(0, cut);
  const validation = text.slice(cut);
  if (train.length === 0 || validation.length === 0) {
    throw new Error(`dataset: a text of ${text.length} characters is too short to split into training and validation`);
  }
  return { train, validation };
}

export class TokenDataset {
  constructor(
    readonly train: Uint32Array,
    readonly validation: Uint32Array,
  ) {
    if (train.length === 0 || validation.length === 0) {
      throw new Error(
        `dataset: both splits need tokens, got ${train.length} training and ${validation.length} validation tokens`,
      );
    }
  }

  /** Splits the text (see `splitText`) and encodes each part on its own, so no token spans the split. */
  static fromText(text: string, tokenizer: Tokenizer, validationFraction = DEFAULT_VALIDATION_FRACTION): TokenDataset {
    if (text.length === 0) throw new Error('dataset: the text is empty');
    const { train, validation } = splitText(text, validationFraction);
    return new TokenDataset(tokenizer.encode(train), tokenizer.encode(validation));
  }

  /** Shard `shard` of `shardCount` equal contiguous ranges of a split. */
  shardRange(split: Split, shard: number, shardCount: number): TokenRange {
    checkInteger('shardCount', shardCount, 1);
    checkInteger('shard', shard, 0, shardCount - 1);
    const length = this.tokens(split).length;
    return { start: Math.floor((shard * length) / shardCount), end: Math.floor(((shard + 1) * length) / shardCount) };
  }

  /** `batchSize` windows at random starts inside the shard's range, drawn from (seed, shard, step). */
  batch(split: Split, options: BatchOptions): Batch {
    const { batchSize, context, seed, step, shard = 0, shardCount = 1 } = options;
    checkShape(options);
    checkInteger('seed', seed, 0, MAX_UINT32);
    checkInteger('step', step, 0, MAX_UINT32);
    const { start, end } = this.shardRange(split, shard, shardCount);
    // A window is context + 1 tokens: the inputs and, shifted by one, the targets.
    const starts = end - start - context;
    if (starts < 1) {
      throw new RangeError(
        `dataset: context ${context} needs ${context + 1} tokens but shard ${shard} of ${shardCount} of the ${split} split holds ${end - start}; use fewer shards or a shorter context`,
      );
    }
    const random = createRandom(streamSeed(seed, shard, step));
    const windows: number[] = [];
    for (let row = 0; row < batchSize; row++) windows.push(start + Math.floor(random() * starts));
    return this.gather(split, windows, context);
  }

  /**
   * A fixed validation set: `count` batches whose windows are spread evenly over the whole
   * validation split. No seed: every peer evaluates on the same tokens.
   */
  evalBatches(count: number, shape: BatchShape): Batch[] {
    checkInteger('count', count, 1);
    checkShape(shape);
    const { batchSize, context } = shape;
    const starts = this.validation.length - context;
    if (starts < 1) {
      throw new RangeError(
        `dataset: context ${context} needs ${context + 1} tokens but the validation split holds ${this.validation.length}`,
      );
    }
    const total = count * batchSize;
    const batches: Batch[] = [];
    for (let b = 0; b < count; b++) {
      const windows: number[] = [];
      for (let row = 0; row < batchSize; row++) windows.push(Math.floor(((b * batchSize + row) * starts) / total));
      batches.push(this.gather('validation', windows, context));
    }
    return batches;
  }

  private tokens(split: Split): Uint32Array {
    if (split === 'train') return this.train;
    if (split === 'validation') return this.validation;
    throw new Error(`dataset: split must be 'train' or 'validation', got ${String(split)}`);
  }

  private gather(split: Split, windows: number[], context: number): Batch {
    const tokens = this.tokens(split);
    const inputs = new Uint32Array(windows.length * context);
    const targets = new Uint32Array(windows.length * context);
    windows.forEach((start, row) => {
      inputs.set(tokens.subarray(start, start + context), row * context);
      targets.set(tokens.subarray(start + 1, start + context + 1), row * context);
    });
    return { inputs, targets };
  }
}

function checkShape({ batchSize, context }: BatchShape): void {
  checkInteger('batchSize', batchSize, 1);
  checkInteger('context', context, 1);
}
