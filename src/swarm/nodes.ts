// libp2p node factories: the seed (Node: WebSockets listener, circuit relay server) and the tab
// (browser: WebSockets to the seed, WebRTC to other tabs, signalled through the seed's relay).
// Both speak Noise over yamux, identify, ping and gossipsub.

import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { type CircuitRelayService, circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import type { GossipSub } from '@libp2p/gossipsub';
import { type Identify, identify } from '@libp2p/identify';
import type { Metrics, PrivateKey } from '@libp2p/interface';
import { type Ping, ping } from '@libp2p/ping';
import { webRTC } from '@libp2p/webrtc';
import { webSockets } from '@libp2p/websockets';
import { createLibp2p, type Libp2p } from 'libp2p';
import { type AnnouncementRules, checkAnnouncements, gossipService, refuseRoundForgeries } from './gossip';
import {
  DIAL_TIMEOUT_MS,
  MAX_CONNECTIONS_PER_IP,
  RELAY_LIMITS,
  SEED_MAX_CONNECTIONS,
  TAB_MAX_CONNECTIONS,
} from './limits';

export interface SwarmServices extends Record<string, unknown> {
  identify: Identify;
  ping: Ping;
  pubsub: GossipSub;
}
export type SwarmNode = Libp2p<SwarmServices>;
export type SeedNode = Libp2p<SwarmServices & { relay: CircuitRelayService }>;

function services() {
  return { identify: identify(), ping: ping(), pubsub: gossipService() };
}

/** The IP address a multiaddr names (`/ip4/1.2.3.4/...`), or undefined. */
export function ipOf(addr: { toString(): string }): string | undefined {
  const [, proto, host] = addr.toString().split('/');
  return proto === 'ip4' || proto === 'ip6' ? host : undefined;
}

export interface SeedNodeOptions {
  privateKey: PrivateKey;
  listen: string[];
  /** Where the node reports its connections and streams (the seed counts what they send). */
  metrics?: Metrics;
  /** Which announcements the seed passes on (gossip.ts). */
  announcements?: AnnouncementRules;
  /** PEM certificate and key for `listen` addresses ending in /tls/ws (wss). */
  tls?: { cert: string; key: string };
}

/**
 * The seed's node. Per IP address it admits at most MAX_CONNECTIONS_PER_IP connections and
 * RELAY_LIMITS.maxReservationsPerIp relay reservations (throwaway identities cost nothing, an
 * address does); a reservation ends when its holder disconnects, not at its TTL.
 */
export async function createSeedNode({
  privateKey,
  listen,
  metrics,
  announcements,
  tls,
}: SeedNodeOptions): Promise<SeedNode> {
  // The gater runs inside the node it guards: it looks the node up when asked.
  let self: SeedNode | undefined;
  const connectionsFrom = (ip: string) =>
    (self?.getConnections() ?? []).filter((c) => ipOf(c.remoteAddr) === ip).length;
  const reservationsFrom = (ip: string) =>
    [...(self?.services.relay.reservations.values() ?? [])].filter((r) => ipOf(r.addr) === ip).length;
  const node = await createLibp2p({
    privateKey,
    ...(metrics ? { metrics: () => metrics } : {}),
    addresses: { listen },
    transports: [webSockets(tls ? { https: { cert: tls.cert, key: tls.key } } : {})],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: SEED_MAX_CONNECTIONS },
    connectionGater: {
      denyInboundConnection: (maConn) => {
        const ip = ipOf(maConn.remoteAddr);
        return ip !== undefined && connectionsFrom(ip) >= MAX_CONNECTIONS_PER_IP;
      },
      denyInboundRelayReservation: (peer) => {
        const ips = new Set((self?.getConnections(peer) ?? []).map((c) => ipOf(c.remoteAddr)));
        return [...ips].some((ip) => ip !== undefined && reservationsFrom(ip) >= RELAY_LIMITS.maxReservationsPerIp);
      },
    },
    services: {
      ...services(),
      relay: circuitRelayServer({
        reservations: {
          maxReservations: RELAY_LIMITS.maxReservations,
          reservationTtl: RELAY_LIMITS.reservationTtlMs,
          applyDefaultLimit: true,
          defaultDurationLimit: RELAY_LIMITS.durationLimitMs,
          defaultDataLimit: RELAY_LIMITS.dataLimitBytes,
        },
        maxInboundHopStreams: RELAY_LIMITS.maxInboundHopStreams,
        maxOutboundStopStreams: RELAY_LIMITS.maxOutboundStopStreams,
      }),
    },
  });
  self = node;
  // A tab that left holds no reservation: the slot is free for the next.
  node.addEventListener('peer:disconnect', (evt) => void node.services.relay.reservations.delete(evt.detail));
  // Nor a record in the peer store: tabs come and go for as long as the seed runs (the churn benchmark).
  node.addEventListener('peer:disconnect', (evt) => void node.peerStore.delete(evt.detail).catch(() => {}));
  checkAnnouncements(node.services.pubsub, announcements);
  refuseRoundForgeries(node.services.pubsub);
  return node;
}

export interface TabNodeOptions {
  privateKey: PrivateKey;
  /**
   * Allow dialing loopback, private and ws:// addresses. Browsers' default gater refuses them;
   * a local run (seed on this machine or this LAN) and the tests need them.
   */
  localNetwork: boolean;
  /** STUN/TURN servers for WebRTC; none offline and in tests. */
  iceServers?: RTCIceServer[];
  /**
   * Whether another tab may start a WebRTC connection to us now (its signalling comes over a relayed
   * connection, refused when this says no): the tab's peer connection budget (connection-budget.ts).
   */
  admitInboundPeerConnection?: () => boolean;
}

/**
 * ICE servers as the WebRTC transport takes them. A browser's RTCPeerConnection takes them as they
 * are. In Node (a headless volunteer), node-datachannel's polyfill folds each into a URL,
 * turn:username:credential@host, which libdatachannel splits at the first ':', and a TURN REST
 * username has one (`<expiry>:<id>`): there both are percent-encoded (libdatachannel decodes them).
 */
export function transportIceServers(
  servers: RTCIceServer[],
  nativeWebRtc = typeof globalThis.RTCPeerConnection === 'function',
): RTCIceServer[] {
  if (nativeWebRtc) return servers;
  return servers.map((s) => ({
    ...s,
    ...(s.username === undefined ? {} : { username: encodeURIComponent(s.username) }),
    ...(typeof s.credential === 'string' ? { credential: encodeURIComponent(s.credential) } : {}),
  }));
}

export async function createTabNode(opts: TabNodeOptions): Promise<SwarmNode> {
  const node = await createLibp2p({
    privateKey: opts.privateKey,
    addresses: { listen: ['/p2p-circuit', '/webrtc'] },
    transports: [
      webSockets(),
      webRTC({ rtcConfiguration: { iceServers: transportIceServers(opts.iceServers ?? []) } }),
      circuitRelayTransport(),
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: TAB_MAX_CONNECTIONS,
      dialTimeout: DIAL_TIMEOUT_MS,
      addressDialTimeout: DIAL_TIMEOUT_MS,
    },
    connectionGater: {
      ...(opts.localNetwork ? { denyDialMultiaddr: async () => false } : {}),
      ...(opts.admitInboundPeerConnection
        ? { denyInboundRelayedConnection: () => !opts.admitInboundPeerConnection!() }
        : {}),
    },
    services: services(),
  });
  checkAnnouncements(node.services.pubsub);
  return node;
}
