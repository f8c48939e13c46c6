// A tab's budget of WebRTC peer connections, and which of its connections have gone idle. Chrome lets
// one tab create at most 500 RTCPeerConnections in its life, a reload included (js-libp2p #2591):
// a tab that dials every peer it hears of would run out within hours and never reach a peer again.
// So a tab creates at most `cap` new peer connections in any `windowMs` (a sliding window over the
// times they were created), reuses the connections it has, and closes those idle for a while.
// Plain functions over plain data: the swarm client keeps the times (and persists them across
// reloads), the tests move time themselves.
import type { Clock } from '../util/clock';
import { MAX_PEER_CONNECTIONS_PER_HOUR } from './limits';

export interface PeerConnectionBudget {
  /** New peer connections allowed within any `windowMs`. */
  cap: number;
  windowMs: number;
}

/** The tab's budget: MAX_PEER_CONNECTIONS_PER_HOUR an hour. */
export const PEER_CONNECTION_BUDGET: PeerConnectionBudget = {
  cap: MAX_PEER_CONNECTIONS_PER_HOUR,
  windowMs: 60 * 60_000,
};

/** A peer connection the budget refused: the caller treats the peer as busy (another holder, or the seed). */
export class PeerConnectionBudgetError extends Error {
  override name = 'PeerConnectionBudgetError';
  constructor(
    readonly budget: PeerConnectionBudget,
    /** When the budget admits a connection again (ms since the epoch). */
    readonly retryAt: number,
  ) {
    super(
      `${budget.cap} new peer connections in ${budget.windowMs / 60_000} min spent; the next at ${new Date(retryAt).toISOString()}`,
    );
  }
}

/** The creation times still inside the window at `now`, oldest first (the rest no longer count). */
export function inWindow(created: readonly number[], now: number, budget = PEER_CONNECTION_BUDGET): number[] {
  return created.filter((t) => t > now - budget.windowMs && t <= now).sort((a, b) => a - b);
}

/**
 * Admits one more peer connection at `now`: the creation times to keep (the window's, with `now`),
 * or, past the cap, the refusal saying when the oldest in the window leaves it.
 */
export function admitPeerConnection(
  created: readonly number[],
  now: number,
  budget = PEER_CONNECTION_BUDGET,
): { created: number[] } | { refused: PeerConnectionBudgetError } {
  const recent = inWindow(created, now, budget);
  if (recent.length < budget.cap) return { created: [...recent, now] };
  return { refused: new PeerConnectionBudgetError(budget, recent[recent.length - budget.cap]! + budget.windowMs) };
}

/** What idle closing needs of a connection: its id, and whether it carries a stream that does work. */
export interface ConnectionActivity {
  id: string;
  busy: boolean;
}

/**
 * The connections to close: those seen idle at every look for `idleMs`. `idleSince` (connection id to
 * when it was first seen idle) is updated in place: a busy or gone connection is forgotten.
 */
export function idleConnections(
  connections: readonly ConnectionActivity[],
  idleSince: Map<string, number>,
  now: number,
  idleMs: number,
): string[] {
  const present = new Set(connections.map((c) => c.id));
  for (const id of idleSince.keys()) if (!present.has(id)) idleSince.delete(id);
  const idle: string[] = [];
  for (const c of connections) {
    if (c.busy) {
      idleSince.delete(c.id);
      continue;
    }
    const since = idleSince.get(c.id) ?? now;
    idleSince.set(c.id, since);
    if (now - since >= idleMs) idle.push(c.id);
  }
  return idle;
}

/** A tab's record of the peer connections it created: what the budget admits, and what it counted. */
export interface PeerConnectionLedger {
  readonly budget: PeerConnectionBudget;
  /** Takes one new peer connection from the budget now; the refusal if it is spent. */
  take(): PeerConnectionBudgetError | undefined;
  /** Whether `take` would admit one now. */
  available(): boolean;
  /** Peer connections admitted since this ledger began (the tab loaded). */
  createdSinceStart(): number;
}

export interface PeerConnectionLedgerOptions {
  clock: Clock;
  budget?: PeerConnectionBudget;
  /** Creation times from before (the tab's last load): they count until they leave the window. */
  created?: readonly number[];
  /** Hears the window's creation times after each admission (the tab persists them). */
  onTake?(created: readonly number[]): void;
}

export function peerConnectionLedger(opts: PeerConnectionLedgerOptions): PeerConnectionLedger {
  const budget = opts.budget ?? PEER_CONNECTION_BUDGET;
  let created = inWindow(opts.created ?? [], opts.clock.now(), budget);
  let sinceStart = 0;
  return {
    budget,
    take() {
      const admitted = admitPeerConnection(created, opts.clock.now(), budget);
      if ('refused' in admitted) return admitted.refused;
      created = admitted.created;
      sinceStart++;
      opts.onTake?.(created);
      return undefined;
    },
    available: () => inWindow(created, opts.clock.now(), budget).length < budget.cap,
    createdSinceStart: () => sinceStart,
  };
}
