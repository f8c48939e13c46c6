// Direct WebRTC links between tabs, signalled through the seed's relay, at the addresses a tab
// announced. The tab with the smaller peer id dials first (two tabs dialling each other at once tend
// to time out both attempts), as soon as it hears the other's announcement; the other dials too if no
// connection came within INBOUND_DIAL_WAIT_MS (the first may have spent its dials, or never heard
// it). Pieces move only on direct links: a relayed connection is limited. Each dial takes a peer
// connection from the tab's budget (connection-budget.ts); an open connection is reused, never dialled again.
import type { Connection } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Multiaddr } from '@multiformats/multiaddr';
import { type Clock, systemClock } from '../util/clock';
import { type PeerConnectionLedger, peerConnectionLedger } from './connection-budget';
import { INBOUND_DIAL_WAIT_MS, MAX_DIRECT_PEERS, MAX_KNOWN_TABS, PEER_DIAL_TIMEOUT_MS } from './limits';
import type { SwarmNode } from './nodes';

/** How often a tab looks for the connection of a peer that is to dial it. */
const INBOUND_POLL_MS = 100;

export interface DirectLinksComponents {
  node: Pick<SwarmNode, 'dial' | 'getConnections'>;
  self: string;
  warn(text: string): void;
  /** Time of the wait for the other side's dial, and of the budget (tests pass a manual one). */
  clock?: Clock;
  /** The tab's peer connection budget, shared with its inbound connections; default: a fresh one. */
  ledger?: PeerConnectionLedger;
}

export interface DirectLinks {
  /** Keeps `peer`'s announced WebRTC addresses, and dials it now if we are the one to dial. */
  learn(peer: string, addrs: Multiaddr[]): void;
  /**
   * Connected, or (while the budget admits a new connection) we can dial it, or it dials us (it has the
   * smaller id and hears our announcements).
   */
  reachable(peer: string): boolean;
  /**
   * An open unlimited connection to `peer`: the one we have, one we dial, or the one it dials (when
   * it has the smaller id: after INBOUND_DIAL_WAIT_MS without it, we dial). A dial the budget refuses
   * rejects with PeerConnectionBudgetError. Rejects with the signal's reason once it aborts.
   */
  connection(peer: string, signal: AbortSignal): Promise<Connection>;
}

export function createDirectLinks(c: DirectLinksComponents): DirectLinks {
  const clock = c.clock ?? systemClock;
  /** peer id -> its relayed WebRTC addresses, from its announcements. */
  const addrs = new Map<string, Multiaddr[]>();
  /** Direct dials in progress, so concurrent requests share one. */
  const dialing = new Map<string, Promise<Connection>>();
  const ledger = c.ledger ?? peerConnectionLedger({ clock });

  const open = (peer: string) =>
    c.node.getConnections(peerIdFromString(peer)).find((conn) => conn.status === 'open' && !conn.limits);

  function dial(peer: string): Promise<Connection> {
    let pending = dialing.get(peer);
    if (!pending) {
      const to = addrs.get(peer);
      if (!to) return Promise.reject(new Error('no WebRTC address announced'));
      const direct = new Set(
        c.node
          .getConnections()
          .filter((conn) => !conn.limits)
          .map((conn) => conn.remotePeer.toString()),
      );
      if (direct.size > MAX_DIRECT_PEERS)
        return Promise.reject(new Error(`already connected to ${MAX_DIRECT_PEERS} tabs`));
      const refused = ledger.take();
      if (refused) return Promise.reject(refused);
      pending = c.node
        .dial(to, { signal: AbortSignal.timeout(PEER_DIAL_TIMEOUT_MS) })
        .finally(() => dialing.delete(peer));
      dialing.set(peer, pending);
    }
    return pending;
  }

  return {
    learn(peer, announced) {
      addrs.delete(peer); // heard again: the newest
      addrs.set(peer, announced);
      if (addrs.size > MAX_KNOWN_TABS) addrs.delete(addrs.keys().next().value!);
      // Past the budget, no dial (a refusal per announcement heard would only repeat itself).
      if (c.self < peer && !open(peer) && !dialing.has(peer) && ledger.available())
        dial(peer).catch((e: Error) => c.warn(`could not connect to ${peer.slice(-8)}: ${e.message}`));
    },
    reachable: (peer) => open(peer) !== undefined || (ledger.available() && (c.self > peer || addrs.has(peer))),
    async connection(peer, signal) {
      const since = clock.now();
      for (;;) {
        const conn = open(peer);
        if (conn) return conn;
        if (c.self < peer || dialing.has(peer) || clock.now() - since >= INBOUND_DIAL_WAIT_MS)
          return untilAborted(dial(peer), signal);
        // The other side dials us first; wait a while for its connection.
        signal.throwIfAborted();
        await new Promise((r) => setTimeout(r, INBOUND_POLL_MS));
      }
    },
  };
}

/**
 * `p`, or a rejection with the signal's reason once it aborts: a request that no longer needs the
 * connection (the seed delivered its piece first) stops waiting, while the dial goes on for others.
 */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
