// Gossip announcements ("I hold these pieces"): the codec, the bitfield helpers, and every refusal.
import { expect, test } from '@playwright/test';
import {
  type Announcement,
  AnnouncementError,
  decodeAnnouncement,
  emptyBitfield,
  encodeAnnouncement,
  hasBit,
  setBit,
} from '../../src/swarm/announce';
import { toBase64, utf8 } from '../../src/swarm/bytes';
import { MAX_ANNOUNCE_ADDRS, MAX_ANNOUNCE_BYTES } from '../../src/swarm/limits';

const MANIFEST = '0123456789abcdef'.repeat(4);
const ADDR = '/ip4/127.0.0.1/tcp/8081/ws/p2p/12D3KooWExample/p2p-circuit/webrtc/p2p/12D3KooWTab';

function bits(n: number, set: number[]): Uint8Array {
  const b = emptyBitfield(n);
  for (const i of set) setBit(b, i);
  return b;
}

/** A raw announcement frame with some fields replaced (to build malformed ones). */
function raw(changes: Record<string, unknown>): Uint8Array {
  return utf8(
    JSON.stringify({ manifest: MANIFEST, have: toBase64(bits(20, [1])), fetching: '', addrs: [ADDR], ...changes }),
  );
}

/** The AnnouncementError message decoding `bytes` throws. */
function refusal(bytes: Uint8Array): string {
  try {
    decodeAnnouncement(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(AnnouncementError);
    return (e as Error).message;
  }
  throw new Error('expected an AnnouncementError');
}

test('bitfields: one bit per piece, rounded up to whole bytes; set, clear and read back', () => {
  expect(emptyBitfield(0).length).toBe(0);
  expect(emptyBitfield(1).length).toBe(1);
  expect(emptyBitfield(8).length).toBe(1);
  expect(emptyBitfield(9).length).toBe(2);
  const b = emptyBitfield(20);
  expect([...Array(20).keys()].some((i) => hasBit(b, i))).toBe(false);
  for (const i of [0, 7, 8, 19]) setBit(b, i);
  // Bit i lives in byte i >> 3, at position i & 7 (least significant first).
  expect([...b]).toEqual([0b1000_0001, 0b0000_0001, 0b0000_1000]);
  expect([...Array(20).keys()].filter((i) => hasBit(b, i))).toEqual([0, 7, 8, 19]);
  setBit(b, 7, false);
  setBit(b, 6, false); // clearing a clear bit changes nothing
  expect([...Array(20).keys()].filter((i) => hasBit(b, i))).toEqual([0, 8, 19]);
  setBit(b, 0); // setting a set bit changes nothing
  expect(hasBit(b, 0)).toBe(true);
  // Past the end reads as not held (a short bitfield from a peer is not an error).
  expect(hasBit(b, 24)).toBe(false);
  expect(hasBit(new Uint8Array(0), 3)).toBe(false);
});

test('an announcement round trips: manifest, both bitfields, addresses', () => {
  const a: Announcement = {
    manifest: MANIFEST,
    have: bits(33, [0, 5, 32]),
    fetching: bits(33, [7]),
    addrs: [ADDR, '/dns4/example.org/tcp/443/wss'],
  };
  const back = decodeAnnouncement(encodeAnnouncement(a));
  expect(back.manifest).toBe(a.manifest);
  expect([...back.have]).toEqual([...a.have]);
  expect([...back.fetching]).toEqual([...a.fetching]);
  expect(back.addrs).toEqual(a.addrs);
  // Empty bitfields and no addresses are fine too.
  const none = decodeAnnouncement(
    encodeAnnouncement({ manifest: MANIFEST, have: new Uint8Array(0), fetching: new Uint8Array(0), addrs: [] }),
  );
  expect([none.have.length, none.fetching.length, none.addrs.length]).toEqual([0, 0, 0]);
});

test('encodeAnnouncement keeps at most MAX_ANNOUNCE_ADDRS addresses, and refuses an announcement over the size limit', () => {
  const addrs = Array.from({ length: MAX_ANNOUNCE_ADDRS + 3 }, (_, i) => `${ADDR}${i}`);
  const back = decodeAnnouncement(
    encodeAnnouncement({ manifest: MANIFEST, have: bits(8, [1]), fetching: bits(8, []), addrs }),
  );
  expect(back.addrs).toEqual(addrs.slice(0, MAX_ANNOUNCE_ADDRS));
  // A bitfield this large (56 Kbit, 9.3 KB in base64) no longer fits.
  const huge = { manifest: MANIFEST, have: new Uint8Array(7000), fetching: new Uint8Array(0), addrs: [] };
  expect(() => encodeAnnouncement(huge)).toThrow(AnnouncementError);
  expect(() => encodeAnnouncement(huge)).toThrow(
    new RegExp(`^announcement is \\d+ bytes, over ${MAX_ANNOUNCE_BYTES}$`),
  );
});

test('malformed announcements are refused with an AnnouncementError naming what is wrong', () => {
  const cases: [Uint8Array, string][] = [
    [utf8('not json'), 'announcement is not JSON'],
    [new Uint8Array([0xc3, 0x28]), 'announcement is not JSON'], // invalid UTF-8
    [new Uint8Array(0), 'announcement is not JSON'],
    [utf8('null'), 'announcement is not a JSON object'],
    [utf8('[1]'), 'announcement is not a JSON object'],
    [utf8('42'), 'announcement is not a JSON object'],
    [raw({ manifest: undefined }), 'announcement: manifest must be a sha256 hex id'],
    [raw({ manifest: MANIFEST.toUpperCase() }), 'announcement: manifest must be a sha256 hex id'],
    [raw({ manifest: MANIFEST.slice(2) }), 'announcement: manifest must be a sha256 hex id'],
    [raw({ have: [1, 2] }), 'announcement: have and fetching must be base64 bitfields'],
    [raw({ fetching: undefined }), 'announcement: have and fetching must be base64 bitfields'],
    [raw({ have: 'not base64!' }), 'announcement: have and fetching must be base64 bitfields'],
    [raw({ fetching: 'AAA=====' }), 'announcement: have and fetching must be base64 bitfields'],
    [raw({ fetching: 'A' }), 'announcement: have and fetching must be base64 bitfields'], // right alphabet, impossible length
    [raw({ addrs: undefined }), `announcement: addrs must be at most ${MAX_ANNOUNCE_ADDRS} strings`],
    [raw({ addrs: ADDR }), `announcement: addrs must be at most ${MAX_ANNOUNCE_ADDRS} strings`],
    [
      raw({ addrs: Array(MAX_ANNOUNCE_ADDRS + 1).fill(ADDR) }),
      `announcement: addrs must be at most ${MAX_ANNOUNCE_ADDRS} strings`,
    ],
    [raw({ addrs: [ADDR, 42] }), `announcement: addrs must be at most ${MAX_ANNOUNCE_ADDRS} strings`],
    [raw({ addrs: ['/'.repeat(512)] }), `announcement: addrs must be at most ${MAX_ANNOUNCE_ADDRS} strings`],
    [
      raw({ pad: 'x'.repeat(MAX_ANNOUNCE_BYTES) }),
      `announcement is ${raw({ pad: 'x'.repeat(MAX_ANNOUNCE_BYTES) }).length} bytes, over ${MAX_ANNOUNCE_BYTES}`,
    ],
  ];
  for (const [i, [bytes, message]] of cases.entries()) expect(refusal(bytes), `case ${i}`).toBe(message);
  // Exactly MAX_ANNOUNCE_ADDRS addresses, each just under 512 characters, is accepted.
  expect(decodeAnnouncement(raw({ addrs: Array(MAX_ANNOUNCE_ADDRS).fill('/'.repeat(511)) })).addrs).toHaveLength(
    MAX_ANNOUNCE_ADDRS,
  );
});
