// The swarm's public surface: node factories, signed documents and manifests, the piece protocol
// and its fetcher, announcements, and the tab's client.
export * from './limits';
export { sha256Hex, toBase64, fromBase64, isSha256Hex, decodeJsonMessage, utf8, fromUtf8 } from './bytes';
export { signDocument, verifyDocument, SignatureError, type SignedDocument, type VerifiedDocument } from './signed';
export { buildManifest, signManifest, verifyManifest, parseWeightsManifest, pieceRange, ManifestError, type WeightsManifest, type VerifiedManifest } from './manifest';
export {
  PIECE_PROTOCOL, PieceStatus, PieceProtocolError, memoryPieceStore, pieceServer, superSeeding, requestPiece, encodePieceRequest, decodePieceRequest,
  type PieceStore, type PieceRequest, type UploadStats,
} from './pieces';
export { ANNOUNCE_TOPIC, encodeAnnouncement, decodeAnnouncement, AnnouncementError, type Announcement } from './announce';
export { fetchPieces, assembleWeights, type FetchProgress, type PieceFetcherOptions } from './fetcher';
export { createSeedNode, createTabNode, type SeedNode, type SwarmNode } from './nodes';
export { startSwarmClient, parseSeedInfo, type SeedInfo, type SwarmClient, type PeerView, type Download } from './client';
