// Tokenizer and dataset shards. Browser-safe: the Node-only corpus readers
// (loadDefaultCorpus, textFromFile) live in ./corpus and are imported from there.

export { stripBrownTags } from './brown';
export {
  type Batch,
  type BatchOptions,
  type BatchShape,
  DEFAULT_VALIDATION_FRACTION,
  type Split,
  splitText,
  TokenDataset,
  type TokenRange,
} from './dataset';
export { fromU16Bytes, toU16Bytes } from './token-files';
export {
  BYTE_VOCAB_SIZE,
  DEFAULT_VOCAB_SIZE,
  MAX_VOCAB_SIZE,
  TOKENIZER_VERSION,
  Tokenizer,
  type TokenizerJson,
} from './tokenizer';
