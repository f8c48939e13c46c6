// A value per (round, peer) for the newest RECENT_ROUNDS_KEPT rounds: what the seed keeps at hand for
// volunteers to ask about (their receipts, why an update was not credited); older rounds are dropped
// as newer ones come.

/**
 * Rounds of receipts and rejection reasons kept in memory for volunteers to ask about (rejections
 * are not stored; older receipts are in the ledger only). A tab asks at its next round.
 */
export const RECENT_ROUNDS_KEPT = 16;

export interface RecentByRound<T> {
  set(round: number, peer: string, value: T): void;
  has(round: number, peer: string): boolean;
  /** `peer`'s values of rounds `since` and later, oldest round first. */
  since(peer: string, since: number): { round: number; value: T }[];
}

export function recentByRound<T>(): RecentByRound<T> {
  const rounds = new Map<number, Map<string, T>>();
  return {
    set(round, peer, value) {
      let byPeer = rounds.get(round);
      if (!byPeer) {
        byPeer = new Map();
        rounds.set(round, byPeer);
        for (const old of rounds.keys()) if (old <= round - RECENT_ROUNDS_KEPT) rounds.delete(old);
      }
      byPeer.set(peer, value);
    },
    has: (round, peer) => rounds.get(round)?.has(peer) ?? false,
    since: (peer, since) =>
      [...rounds]
        .filter(([round, byPeer]) => round >= since && byPeer.has(peer))
        .sort(([a], [b]) => a - b)
        .map(([round, byPeer]) => ({ round, value: byPeer.get(peer)! })),
  };
}
