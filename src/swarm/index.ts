// The swarm's public surface: node factories, signed documents and manifests, the piece protocol
// and its fetcher, announcements, and the tab's client.

export {
  ANNOUNCE_TOPIC,
  type Announcement,
  AnnouncementError,
  decodeAnnouncement,
  encodeAnnouncement,
} from './announce';
export { type HeardHolders, heardHolders } from './announcements';
export { decodeJsonMessage, fromBase64, fromUtf8, isSha256Hex, sha256Hex, toBase64, utf8 } from './bytes';
export {
  PEER_CONNECTIONS_KEY,
  type PeerView,
  type SwarmClient,
  type SwarmClientOptions,
  type SwarmRecords,
  startSwarmClient,
} from './client';
export {
  admitPeerConnection,
  type ConnectionActivity,
  idleConnections,
  inWindow,
  PEER_CONNECTION_BUDGET,
  type PeerConnectionBudget,
  PeerConnectionBudgetError,
  type PeerConnectionLedger,
  peerConnectionLedger,
} from './connection-budget';
export type { Download } from './downloads';
export {
  assembleBytes,
  type FetchProgress,
  fetchPieces,
  ManifestRetiredError,
  type PieceFetcherOptions,
  SeedServesCorruptPiecesError,
} from './fetcher';
export { ROUND_TOPIC } from './gossip';
export * from './limits';
export {
  buildManifest,
  ManifestError,
  type PieceManifest,
  parsePieceFields,
  parseWeightsManifest,
  pieceFields,
  pieceRange,
  signManifest,
  type VerifiedManifest,
  type VerifiedPieces,
  verifyManifest,
  type WeightsManifest,
} from './manifest';
export { createSeedNode, createTabNode, ipOf, type SeedNode, type SeedNodeOptions, type SwarmNode } from './nodes';
export {
  decodePieceRequest,
  encodePieceRequest,
  type MemoryPieceStore,
  memoryPieceStore,
  PIECE_PROTOCOL,
  PieceProtocolError,
  type PieceRequest,
  PieceStatus,
  type PieceStore,
  pieceServer,
  requestPiece,
  type SuperSeedingOptions,
  superSeeding,
  type UploadPolicy,
  type UploadStats,
} from './pieces';
export { MAX_LISTED_HELPERS, parseSeedInfo, runSigner, type SeedInfo } from './seed-link';
export { SignatureError, type SignedDocument, signDocument, type VerifiedDocument, verifyDocument } from './signed';
export { closeBothEnds } from './streams';
