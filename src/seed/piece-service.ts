// The seed's piece service: serves the pieces of the servable weights over the piece protocol, with
// super-seeding (a piece another tab just got and offers is answered REFERRED: fetch it from that tab).
import {
  heardHolders,
  MAX_PIECE_STREAMS_PER_CONNECTION,
  PIECE_PROTOCOL,
  PieceStatus,
  pieceServer,
  SEED_PIECE_REPEAT_MS,
  SEED_REFERRAL_MS,
  type SeedNode,
  superSeeding,
  type UploadStats,
} from '../swarm';
import { type Clock, systemClock } from '../util/clock';
import type { WeightsPublisher } from './weights';

export interface PieceServiceComponents {
  node: Pick<SeedNode, 'handle' | 'unhandle' | 'peerId'> & { services: Pick<SeedNode['services'], 'pubsub'> };
  weights: Pick<WeightsPublisher, 'manifest' | 'store'>;
  /** Whether a tab is still connected (a piece it holds and announces is then fetched from it). */
  isConnected(peer: string): boolean;
  log(line: string): void;
  clock?: Clock;
}

export interface PieceService {
  /** What the seed uploaded and refused so far. */
  uploads: UploadStats;
  stop(): Promise<void>;
}

export async function startPieceService(c: PieceServiceComponents): Promise<PieceService> {
  const uploads: UploadStats = { uploadedBytes: 0, piecesServed: 0, refused: 0 };
  const clock = c.clock ?? systemClock;
  const heard = heardHolders({
    pubsub: c.node.services.pubsub,
    self: c.node.peerId.toString(),
    pieceCount: (manifest) => c.weights.manifest(manifest)?.pieces.length,
    clock,
  });
  await c.node.handle(
    PIECE_PROTOCOL,
    pieceServer({
      manifest: c.weights.manifest,
      store: c.weights.store,
      stats: uploads,
      policy: superSeeding({
        intervalMs: SEED_PIECE_REPEAT_MS,
        referralMs: SEED_REFERRAL_MS,
        connected: c.isConnected,
        offers: (peer, req) => c.isConnected(peer) && heard.holds(peer, req.manifest, req.index),
        addrs: (peer, req) => heard.addrs(peer, req.manifest),
        now: () => clock.now(),
      }),
      clock,
      // Referrals and BUSY are the super-seeding policy at work, not news; malformed requests are.
      onRefused: (peer, status, reason) =>
        status === PieceStatus.BadRequest && c.log(`refused a piece request from ${peer}: ${reason}`),
    }),
    { maxInboundStreams: MAX_PIECE_STREAMS_PER_CONNECTION, maxOutboundStreams: MAX_PIECE_STREAMS_PER_CONNECTION },
  );
  return {
    uploads,
    stop: async () => {
      heard.stop();
      await c.node.unhandle(PIECE_PROTOCOL);
    },
  };
}
