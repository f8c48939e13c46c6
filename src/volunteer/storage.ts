// What a Node volunteer keeps where a tab uses IndexedDB: weight pieces and token files by sha256,
// and progress records (its receipts). In memory: a volunteer that restarts begins afresh, as a new
// one would (a new peer key too).
import { memoryProgressStore } from '../storage';
import type { PieceStore } from '../swarm';
import type { ParticipantStorage } from '../tab/participant';

/**
 * Piece bytes a volunteer keeps: the token files and several rounds of weights (8 of the 32 MiB
 * preset). Every round brings new weights, so without a bound a long run would grow without end;
 * the oldest go first, and a piece needed again is fetched again.
 */
export const PIECE_CACHE_BYTES = 256 * 1024 * 1024;

/** A PieceStore in memory that drops its oldest entries past `maxBytes` (never the one just put). */
export function memoryPieceCache(maxBytes = PIECE_CACHE_BYTES): PieceStore {
  const pieces = new Map<string, Uint8Array>(); // in insertion order: the oldest first
  let bytes = 0;
  const drop = (hash: string) => {
    const piece = pieces.get(hash);
    if (!piece) return;
    bytes -= piece.length;
    pieces.delete(hash);
  };
  return {
    get: async (hash) => pieces.get(hash),
    has: async (hash) => pieces.has(hash),
    async put(hash, piece) {
      drop(hash);
      pieces.set(hash, piece);
      bytes += piece.length;
      for (const oldest of pieces.keys()) {
        if (bytes <= maxBytes || oldest === hash) break;
        drop(oldest);
      }
    },
  };
}

export function memoryVolunteerStorage(): ParticipantStorage {
  return { ...memoryProgressStore(), pieces: memoryPieceCache() };
}
