// Federated training's pure core: the update codec (int8, block top-k, error feedback), robust
// aggregation, the admission check for an update, and DiLoCo's outer Nesterov step.

export {
  type AggregateOptions,
  type AggregationRule,
  aggregate,
  DEFAULT_AGGREGATION,
  DEFAULT_CLIP_FACTOR,
  DEFAULT_TRIM_FRACTION,
  l2Norm,
  trimCount,
} from './aggregate';
export {
  type Compressed,
  compressWithFeedback,
  DEFAULT_BLOCK_SIZE,
  decodeUpdate,
  denseFp32Bytes,
  type EncodeOptions,
  encodedSize,
  encodeUpdate,
  MAX_BLOCK_SIZE,
  UPDATE_FORMAT_VERSION,
  type UpdateFormat,
  UpdateFormatError,
} from './codec';
export {
  CLOSE_RETRY_MS,
  type Coordinator,
  type CoordinatorDeps,
  type CoordinatorState,
  type CoordinatorStatus,
  createCoordinator,
  DEFAULT_FED_SETTINGS,
  type FedSettings,
  type HistoryEntry,
  MIN_REISSUE_MS,
  maxUpdateNorm,
} from './coordinator';
export {
  type CreditsFile,
  type CreditsSummary,
  parseCreditsFile,
  summariseReceipts,
  TOKENS_PER_CREDIT,
  verifyCreditsFile,
} from './credits';
export {
  type CodecSettings,
  FedDocumentError,
  parseReceipt,
  parseRoundManifest,
  type Receipt,
  type RoundHyper,
  type RoundManifest,
  signReceipt,
  signRoundManifest,
  verifyReceipt,
  verifyRoundManifest,
} from './documents';
export { type OuterOptions, outerStep } from './outer';
export {
  MAX_UPDATE_BYTES,
  MAX_UPDATE_BYTES_IN_FLIGHT,
  MAX_UPDATE_REQUESTS_PER_MINUTE,
  MAX_UPDATE_STREAMS_PER_CONNECTION,
  parseUpdateHeader,
  ROUND_TOPIC,
  requestJoin,
  sendUpdate,
  UPDATE_PROTOCOL,
  UPDATE_REPLY_TIMEOUT_MS,
  type UpdateHeader,
  UpdateProtocolError,
  UpdateRefusedError,
  updateServer,
} from './protocol';
export { type ExpectedUpdate, type ReceivedUpdate, validateUpdate } from './validate';
