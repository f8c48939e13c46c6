// Federated training's pure core: the update codec (int8, block top-k, error feedback), robust
// aggregation, the admission check for an update, and DiLoCo's outer Nesterov step.
export {
  encodeUpdate, decodeUpdate, compressWithFeedback, encodedSize, denseFp32Bytes, ddpBytes, UpdateFormatError,
  DEFAULT_BLOCK_SIZE, MAX_BLOCK_SIZE, UPDATE_FORMAT_VERSION,
  type EncodeOptions, type UpdateFormat, type Compressed,
} from './codec';
export {
  aggregate, l2Norm, trimCount, DEFAULT_AGGREGATION, DEFAULT_TRIM_FRACTION, DEFAULT_CLIP_FACTOR,
  type AggregationRule, type AggregateOptions,
} from './aggregate';
export { validateUpdate, type ReceivedUpdate, type ExpectedUpdate } from './validate';
export { outerStep, DEFAULT_OUTER, type OuterOptions } from './outer';
export {
  type RoundManifest, type RoundHyper, type Receipt, type CodecSettings, FedDocumentError,
  parseRoundManifest, parseReceipt, signRoundManifest, verifyRoundManifest, signReceipt, verifyReceipt,
} from './documents';
export {
  UPDATE_PROTOCOL, ROUND_TOPIC, MAX_UPDATE_BYTES, MAX_UPDATE_STREAMS_PER_CONNECTION, UpdateProtocolError, updateServer, requestJoin, sendUpdate, parseUpdateHeader,
  type UpdateHeader,
} from './protocol';
export {
  createCoordinator, maxUpdateNorm, DEFAULT_FED_SETTINGS,
  type Coordinator, type CoordinatorDeps, type CoordinatorState, type CoordinatorStatus, type FedSettings, type HistoryEntry,
} from './coordinator';
export { runParticipant, RECEIPTS_KEY, type ParticipantEvent, type ParticipantOptions, type ParticipantTrainer, type ParticipantStorage } from './participant';
export { toU16Bytes, fromU16Bytes } from './tokens';
