// Announcements over gossipsub: "I hold these pieces of this manifest, dial me here". Small,
// validated before gossipsub forwards them (an invalid one is rejected and its sender scored down).
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import { decodeJsonMessage, fromBase64, isSha256Hex, toBase64, utf8 } from './bytes';
import { MAX_ANNOUNCE_ADDRS, MAX_ANNOUNCE_BYTES } from './limits';

export const ANNOUNCE_TOPIC = 'vgpu/have/1';

export interface Announcement {
  manifest: string;
  /** Bit i set: the sender holds piece i. */
  have: Uint8Array;
  /** Bit i set: the sender is fetching piece i from the seed (others then wait for it instead). */
  fetching: Uint8Array;
  /** Where to dial the sender (its relayed WebRTC addresses). */
  addrs: string[];
}

export class AnnouncementError extends Error {
  override name = 'AnnouncementError';
}

/**
 * The addresses among `addrs` at which `peer` can be dialled over WebRTC: its own (they end in its
 * peer id: a stranger cannot send us to dial someone else), parsable, at most MAX_ANNOUNCE_ADDRS.
 */
export function dialableAddrs(peer: string, addrs: readonly unknown[]): Multiaddr[] {
  return addrs.slice(0, MAX_ANNOUNCE_ADDRS).flatMap((s) => {
    if (typeof s !== 'string' || s.length >= 512 || !s.includes('/webrtc') || !s.endsWith(`/p2p/${peer}`)) return [];
    try {
      return [multiaddr(s)];
    } catch {
      return [];
    }
  });
}

export function emptyBitfield(pieces: number): Uint8Array {
  return new Uint8Array(Math.ceil(pieces / 8));
}

export function hasBit(bits: Uint8Array, i: number): boolean {
  return ((bits[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;
}

export function setBit(bits: Uint8Array, i: number, on = true): void {
  if (on) bits[i >> 3]! |= 1 << (i & 7);
  else bits[i >> 3]! &= ~(1 << (i & 7));
}

export function encodeAnnouncement(a: Announcement): Uint8Array {
  const bytes = utf8(
    JSON.stringify({
      manifest: a.manifest,
      have: toBase64(a.have),
      fetching: toBase64(a.fetching),
      addrs: a.addrs.slice(0, MAX_ANNOUNCE_ADDRS),
    }),
  );
  if (bytes.length > MAX_ANNOUNCE_BYTES)
    throw new AnnouncementError(`announcement is ${bytes.length} bytes, over ${MAX_ANNOUNCE_BYTES}`);
  return bytes;
}

/** Parses and checks an announcement; throws AnnouncementError naming what is wrong. */
export function decodeAnnouncement(bytes: Uint8Array): Announcement {
  const { manifest, have, fetching, addrs } = decodeJsonMessage(
    bytes,
    MAX_ANNOUNCE_BYTES,
    'announcement',
    (why) => new AnnouncementError(why),
  );
  if (!isSha256Hex(manifest)) throw new AnnouncementError('announcement: manifest must be a sha256 hex id');
  if (typeof have !== 'string' || typeof fetching !== 'string')
    throw new AnnouncementError('announcement: have and fetching must be base64 bitfields');
  if (
    !Array.isArray(addrs) ||
    addrs.length > MAX_ANNOUNCE_ADDRS ||
    !addrs.every((a) => typeof a === 'string' && a.length < 512)
  ) {
    throw new AnnouncementError(`announcement: addrs must be at most ${MAX_ANNOUNCE_ADDRS} strings`);
  }
  try {
    return { manifest, have: fromBase64(have), fetching: fromBase64(fetching), addrs: addrs as string[] };
  } catch {
    throw new AnnouncementError('announcement: have and fetching must be base64 bitfields');
  }
}
