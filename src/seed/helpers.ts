// The root's side of helper seeds (src/fed/helper-protocol.ts): the helpers its operator allowed
// (--allow-helper) say hello, then stand for their volunteers: joins, leaves, receipts, and one
// partial aggregate per round, which goes to the coordinator as a bucket of its own. A volunteer
// behind a helper counts as connected while that helper is (a helper that disappears takes its
// volunteers with it, so the round stops waiting for them after LEFT_GRACE_MS).

import type { StreamHandler } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import {
  type Coordinator,
  fetchSample,
  HELPER_PROTOCOL,
  helperServer,
  MAX_HELPER_STREAMS_PER_CONNECTION,
  MAX_PARTIAL_CONTRIBUTORS,
  SAMPLE_PROTOCOL,
} from '../fed';
import { MAX_UPDATE_BYTES } from '../fed/protocol';
import type { SeedNode } from '../swarm';
import type { Clock } from '../util/clock';
import { throttledLog } from '../util/log';

/**
 * Volunteers one helper may stand for at once: a round's worth of contributors and as many again
 * waiting to be assigned. A join past it is refused (the helper's volunteers then join the root).
 */
export const MAX_VOLUNTEERS_PER_HELPER = 2 * MAX_PARTIAL_CONTRIBUTORS;
/** Longest the root waits for one sampled update from a helper; past it the partial is not used. */
export const SAMPLE_TIMEOUT_MS = 30_000;
/** A helper's refused requests make one log line a minute at most. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

export interface HelperEntry {
  peerId: string;
  /** The helper's volunteer page. */
  url: string;
}

export interface HelperService {
  /**
   * Whether `peer` joined through a helper: then only that helper's link says whether it is there (a
   * volunteer behind a helper may hold a relay connection to the root too, which says nothing).
   */
  stands(peer: string): boolean;
  /** Whether `peer` is a volunteer behind a connected helper. */
  holds(peer: string): boolean;
  /** Whether `peer` is a helper that said hello. */
  isHelper(peer: string): boolean;
  /** `peer` joined the root directly: no helper stands for it any more. */
  forget(peer: string): void;
  /** The address a helper reported for one of its volunteers. */
  addressOf(peer: string): string | undefined;
  /** Connected helpers that said hello, for /swarm.json. */
  list(): HelperEntry[];
  /** An update behind a helper's partial, from that helper (the coordinator's fetchSample). */
  fetchSample(helper: string, round: number, peer: string): Promise<Uint8Array>;
  stop(): Promise<void>;
}

export interface HelperServiceComponents extends Omit<HelperRegistryComponents, 'connected' | 'fetchSample'> {
  node: Pick<SeedNode, 'handle' | 'unhandle' | 'getConnections' | 'dialProtocol'>;
}

/** The root's helper service on its node: the protocol's handler, helpers' liveness from the node's connections. */
export async function startHelperService(c: HelperServiceComponents): Promise<HelperService> {
  const registry = helperRegistry({
    ...c,
    connected: (helper) => c.node.getConnections(peerIdFromString(helper)).length > 0,
    async fetchSample(helper, round, peer) {
      const signal = AbortSignal.timeout(SAMPLE_TIMEOUT_MS);
      const stream = await c.node.dialProtocol(peerIdFromString(helper), SAMPLE_PROTOCOL, { signal });
      return fetchSample(stream, round, peer, MAX_UPDATE_BYTES, { signal });
    },
  });
  await c.node.handle(HELPER_PROTOCOL, registry.handler, {
    maxInboundStreams: MAX_HELPER_STREAMS_PER_CONNECTION,
    maxOutboundStreams: MAX_HELPER_STREAMS_PER_CONNECTION,
  });
  return { ...registry, stop: () => c.node.unhandle(HELPER_PROTOCOL) };
}

export interface HelperRegistryComponents {
  /** Whether a helper is connected now. */
  connected(helper: string): boolean;
  /** An update behind a helper's partial, from that helper. */
  fetchSample(helper: string, round: number, peer: string): Promise<Uint8Array>;
  /** Set once the coordinator exists (it needs fetchSample first). */
  coordinator(): Pick<Coordinator, 'onJoin' | 'onLeave' | 'receipts' | 'admitPartial' | 'onPartial' | 'onLeft'>;
  /** Peer ids allowed to act as helpers. */
  allowed: readonly string[];
  log(line: string): void;
  clock?: Clock;
}

/**
 * The helpers' state and the protocol's handler, apart from any node (the scale benchmark drives the
 * handler over in-memory streams).
 */
export function helperRegistry(c: HelperRegistryComponents): Omit<HelperService, 'stop'> & { handler: StreamHandler } {
  const allowed = new Set(c.allowed);
  const urls = new Map<string, string>();
  /** Each helper's volunteers, and the address it reported for each. */
  const members = new Map<string, Map<string, string | undefined>>();
  const helperOf = new Map<string, string>();
  const { connected } = c;
  const logRefusal = throttledLog(c.log, REFUSAL_LOG_INTERVAL_MS, c.clock);
  const forget = (peer: string) => {
    const helper = helperOf.get(peer);
    if (helper) members.get(helper)?.delete(peer);
    helperOf.delete(peer);
  };

  const handler = helperServer({
    refuse: (helper) => (allowed.has(helper) ? undefined : 'not a helper of this run (the root did not allow it)'),
    onHello(helper, url) {
      if (!urls.has(helper)) c.log(`helper ${helper} at ${url}`);
      urls.set(helper, url);
    },
    onJoin(helper, peer, address) {
      const own = members.get(helper) ?? new Map<string, string | undefined>();
      if (!own.has(peer) && own.size >= MAX_VOLUNTEERS_PER_HELPER)
        throw new Error(`a helper stands for at most ${MAX_VOLUNTEERS_PER_HELPER} volunteers`);
      forget(peer);
      members.set(helper, own.set(peer, address));
      helperOf.set(peer, helper);
      return c.coordinator().onJoin(peer);
    },
    onLeft(helper, peer) {
      if (helperOf.get(peer) !== helper) return c.coordinator().onLeft();
      forget(peer);
      // Gone from the helper, or holding (a volunteer's leave): assigned nothing until it joins again.
      c.coordinator().onLeave(peer);
      c.coordinator().onLeft();
    },
    onReceipts(helper, peer, since) {
      if (helperOf.get(peer) !== helper) throw new Error(`${peer} is not a volunteer of this helper`);
      return c.coordinator().receipts(peer, since);
    },
    admitPartial: (helper, partial) => c.coordinator().admitPartial(helper, partial),
    onPartial: (helper, partial, body) => c.coordinator().onPartial(helper, partial, body),
    onError: (helper, message) => logRefusal(helper, `refused a helper request from ${helper}: ${message}`),
    clock: c.clock,
  });
  return {
    handler,
    stands: (peer) => helperOf.has(peer),
    isHelper: (peer) => urls.has(peer),
    forget,
    holds(peer) {
      const helper = helperOf.get(peer);
      return helper !== undefined && connected(helper);
    },
    addressOf: (peer) => {
      const helper = helperOf.get(peer);
      return helper === undefined ? undefined : members.get(helper)?.get(peer);
    },
    list: () => [...urls].filter(([helper]) => connected(helper)).map(([peerId, url]) => ({ peerId, url })),
    fetchSample: c.fetchSample,
  };
}
