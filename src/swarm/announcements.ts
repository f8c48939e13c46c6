// A tab's announcements over gossip, both ways: what other tabs hold (their last announcement,
// while fresh) and where to dial them; and what this tab holds, sent soon after each change (at
// most one per ANNOUNCE_MIN_GAP_MS) and every ANNOUNCE_INTERVAL_MS.
import type { GossipSub, Message } from '@libp2p/gossipsub';
import type { Multiaddr } from '@multiformats/multiaddr';
import { type Clock, systemClock } from '../util/clock';
import {
  ANNOUNCE_TOPIC,
  decodeAnnouncement,
  dialableAddrs,
  emptyBitfield,
  encodeAnnouncement,
  hasBit,
  setBit,
} from './announce';
import type { Availability } from './fetcher';
import {
  ANNOUNCE_INTERVAL_MS,
  ANNOUNCE_MIN_GAP_MS,
  ANNOUNCE_STALE_MS,
  MAX_KNOWN_TABS,
  SEED_MAX_CONNECTIONS,
} from './limits';

export interface AnnouncementsComponents {
  pubsub: Pick<GossipSub, 'publish' | 'addEventListener' | 'removeEventListener'>;
  /** Our peer id and the seed's: announcements from either are not another tab's. */
  self: string;
  seed: string;
  /** Our relayed WebRTC addresses, sent with each announcement so that other tabs can dial us. */
  addrs(): string[];
  /** Called with the WebRTC addresses of each tab that announces some. */
  onPeerAddrs(peer: string, addrs: Multiaddr[]): void;
  clock?: Clock;
}

export interface Announcements {
  /** Announces `own` for `manifest` from now on; the fetcher updates it in place, then calls changed(). */
  announce(manifest: string, own: Availability): void;
  /** Stops announcing `manifest`, and forgets what others announced of it. */
  forget(manifest: string): void;
  /** What we hold changed: announce it soon. */
  changed(): void;
  /** Other tabs' fresh announcements for `manifest`. */
  holders(manifest: string): Map<string, Availability>;
  /**
   * The seed referred us to `peer` for piece `index` of `manifest`, which it holds: counted as if
   * `peer` had announced it, until its own announcement says otherwise.
   */
  referred(manifest: string, peer: string, index: number): void;
  stop(): void;
}

type Heard = Availability & { at: number };

export function startAnnouncements(c: AnnouncementsComponents): Announcements {
  const clock = c.clock ?? systemClock;
  /** manifest id -> peer id -> what that peer last announced, and when. */
  const heard = new Map<string, Map<string, Heard>>();
  /** manifest id -> what we hold and fetch. */
  const own = new Map<string, Availability>();

  const onMessage = (evt: CustomEvent<Message>) => {
    const msg = evt.detail;
    if (msg.topic !== ANNOUNCE_TOPIC || msg.type !== 'signed') return;
    const from = msg.from.toString();
    if (from === c.self || from === c.seed) return;
    const a = decodeAnnouncement(msg.data); // already checked by the topic validator
    // Only weights we fetch or serve, with bitfields of their size: a stranger's announcements of
    // made-up manifests or outsized bitfields take no memory here.
    const mine = own.get(a.manifest);
    if (!mine || a.have.length !== mine.have.length || a.fetching.length !== mine.fetching.length) return;
    const peers = heard.get(a.manifest) ?? new Map<string, Heard>();
    peers.set(from, { have: a.have, fetching: a.fetching, at: clock.now() });
    heard.set(a.manifest, peers);
    const addrs = dialableAddrs(from, a.addrs);
    if (addrs.length > 0) c.onPeerAddrs(from, addrs);
  };
  c.pubsub.addEventListener('message', onMessage);

  let lastSent = Number.NEGATIVE_INFINITY;
  let cancelSend: (() => void) | undefined;
  const send = async () => {
    cancelSend = undefined;
    lastSent = clock.now();
    const addrs = c.addrs();
    for (const [manifest, a] of own)
      await c.pubsub.publish(ANNOUNCE_TOPIC, encodeAnnouncement({ manifest, ...a, addrs })).catch(() => {});
  };
  const soon = () => {
    cancelSend ??= clock.after(Math.max(0, lastSent + ANNOUNCE_MIN_GAP_MS - clock.now()), () => void send());
  };
  const periodic = () => {
    soon();
    cancelPeriodic = clock.after(ANNOUNCE_INTERVAL_MS, periodic);
  };
  let cancelPeriodic = clock.after(ANNOUNCE_INTERVAL_MS, periodic);

  return {
    announce: (manifest, a) => void own.set(manifest, a),
    forget(manifest) {
      own.delete(manifest);
      heard.delete(manifest);
    },
    changed: soon,
    referred(manifest, peer, index) {
      const mine = own.get(manifest);
      if (!mine || peer === c.self || peer === c.seed) return;
      const peers = heard.get(manifest) ?? new Map<string, Heard>();
      let h = peers.get(peer);
      if (!h || h.at <= clock.now() - ANNOUNCE_STALE_MS) {
        if (!h && peers.size >= MAX_KNOWN_TABS) return;
        h = { have: new Uint8Array(mine.have.length), fetching: new Uint8Array(mine.fetching.length), at: clock.now() };
        peers.set(peer, h);
      }
      setBit(h.have, index);
      heard.set(manifest, peers);
    },
    holders(manifest) {
      const fresh = new Map<string, Availability>();
      for (const [peer, a] of heard.get(manifest) ?? []) if (a.at > clock.now() - ANNOUNCE_STALE_MS) fresh.set(peer, a);
      return fresh;
    },
    stop() {
      cancelPeriodic();
      cancelSend?.();
      c.pubsub.removeEventListener('message', onMessage);
    },
  };
}

export interface HeardHoldersComponents {
  pubsub: Pick<GossipSub, 'addEventListener' | 'removeEventListener'>;
  self: string;
  /** Pieces of `manifest` if the seed serves it, else undefined (its announcements are not kept). */
  pieceCount(manifest: string): number | undefined;
  clock?: Clock;
}

export interface HeardHolders {
  /** Whether `peer` announced, within ANNOUNCE_STALE_MS, that it holds piece `index` of `manifest`. */
  holds(peer: string, manifest: string, index: number): boolean;
  /** Where `peer` said, in its last announcement of `manifest`, it can be dialled (its own WebRTC addresses). */
  addrs(peer: string, manifest: string): string[];
  stop(): void;
}

/**
 * At the seed: which tabs announce which pieces of the weights it serves (so super-seeding sends
 * askers only to tabs that offer a piece, not to one that took it and keeps quiet), and where to dial
 * them (the referral names them). Bounded: the served manifests only, SEED_MAX_CONNECTIONS announcers
 * each (stale ones make room first), MAX_ANNOUNCE_ADDRS addresses each.
 */
export function heardHolders(c: HeardHoldersComponents): HeardHolders {
  const clock = c.clock ?? systemClock;
  const heard = new Map<string, Map<string, { have: Uint8Array; addrs: string[]; at: number }>>();
  const onMessage = (evt: CustomEvent<Message>) => {
    const msg = evt.detail;
    if (msg.topic !== ANNOUNCE_TOPIC || msg.type !== 'signed') return;
    const from = msg.from.toString();
    if (from === c.self) return;
    const a = decodeAnnouncement(msg.data); // already checked by the topic validator
    const pieces = c.pieceCount(a.manifest);
    if (pieces === undefined || a.have.length !== emptyBitfield(pieces).length) return;
    const now = clock.now();
    for (const m of heard.keys()) if (c.pieceCount(m) === undefined) heard.delete(m);
    const peers = heard.get(a.manifest) ?? new Map<string, { have: Uint8Array; addrs: string[]; at: number }>();
    if (!peers.has(from) && peers.size >= SEED_MAX_CONNECTIONS)
      for (const [peer, h] of peers) if (h.at <= now - ANNOUNCE_STALE_MS) peers.delete(peer);
    if (!peers.has(from) && peers.size >= SEED_MAX_CONNECTIONS) return;
    // The addresses as announced (decodeAnnouncement bounds them); checked only when a referral names this tab.
    peers.set(from, { have: a.have, addrs: a.addrs, at: now });
    heard.set(a.manifest, peers);
  };
  c.pubsub.addEventListener('message', onMessage);
  return {
    holds(peer, manifest, index) {
      const h = heard.get(manifest)?.get(peer);
      return h !== undefined && h.at > clock.now() - ANNOUNCE_STALE_MS && hasBit(h.have, index);
    },
    addrs: (peer, manifest) => dialableAddrs(peer, heard.get(manifest)?.get(peer)?.addrs ?? []).map(String),
    stop: () => c.pubsub.removeEventListener('message', onMessage),
  };
}
