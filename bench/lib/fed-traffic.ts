// Bytes on the wire in the federated benchmark: what one volunteer sends and receives in a round,
// and, for comparison, what one worker of synchronous data-parallel training sends and receives per
// step when it averages gradients with a ring all-reduce.
import type { ReceiptsReply, UpdateHeader, UpdateOutcome } from '../../src/fed';
import { type SignedDocument, utf8 } from '../../src/swarm';

/** Bytes sent (upload) and received (download) by one participant. */
export interface Traffic {
  upload: number;
  download: number;
}

/** What a round moves for one volunteer: the documents and bodies its protocols carry. */
export interface VolunteerRound {
  /** The volunteer (its peer id). */
  peer: string;
  /** The signed round manifest (/round.json or gossip); it embeds the signed weights manifest. */
  roundManifest: SignedDocument;
  /**
   * Bytes of the pieces fetched for the round: the whole weights or the delta they were rebuilt
   * from, and the second moment the round names.
   */
  weightsBytes: number;
  header: UpdateHeader;
  /** The encoded update. */
  update: Uint8Array;
  /** What the seed said when the update arrived ({received, update}). */
  outcome: UpdateOutcome;
  /** The seed's reply to the volunteer's receipts request after the round closed (the signed receipt). */
  receipts: ReceiptsReply;
}

/** A JSON document's size on the wire: its UTF-8 serialisation. */
export function jsonBytes(doc: unknown): number {
  return utf8(JSON.stringify(doc)).length;
}

/**
 * One volunteer's bytes for one round, counted as the payloads of the protocols that carry them:
 * down, the round manifest, the weights' pieces, the seed's acknowledgement and its receipts reply;
 * up, the update's header and body, and the receipts request.
 * Framing below these payloads (length prefixes, piece requests and status bytes, muxing,
 * encryption, transport) is not counted.
 */
export function volunteerRoundTraffic(r: VolunteerRound): Traffic {
  return {
    upload: jsonBytes(r.header) + r.update.length + jsonBytes({ type: 'receipts', since: r.header.round }),
    download: jsonBytes(r.roundManifest) + r.weightsBytes + jsonBytes(r.outcome) + jsonBytes(r.receipts),
  };
}

/**
 * One worker's bytes for one ring all-reduce of a `vectorBytes` gradient over `workers` workers:
 * reduce-scatter then all-gather, each N−1 steps of a 1/N chunk, so each worker sends
 * 2·(N−1)/N·vectorBytes and receives as much.
 */
export function ringAllReduceTraffic(vectorBytes: number, workers: number): Traffic {
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer: ${workers}`);
  const each = ((2 * (workers - 1)) / workers) * vectorBytes;
  return { upload: each, download: each };
}

/** Element-wise sum of traffic figures. */
export function sumTraffic(all: Traffic[]): Traffic {
  return all.reduce((s, t) => ({ upload: s.upload + t.upload, download: s.download + t.download }), {
    upload: 0,
    download: 0,
  });
}
