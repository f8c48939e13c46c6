// Tokenizer and dataset shards. Browser-safe: the Node-only corpus readers
// (loadDefaultCorpus, textFromFile) live in ./corpus and are imported from there.
export { Tokenizer, BYTE_VOCAB_SIZE, DEFAULT_VOCAB_SIZE, MAX_VOCAB_SIZE, TOKENIZER_VERSION, type TokenizerJson } from './tokenizer';
export {
  TokenDataset,
  splitText,
  DEFAULT_VALIDATION_FRACTION,
  type Batch,
  type BatchOptions,
  type BatchShape,
  type Split,
  type TokenRange,
} from './dataset';
export { stripBrownTags } from './brown';
