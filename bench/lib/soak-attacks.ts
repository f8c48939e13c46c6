// The soak benchmark's attackers (bench/soak.ts): one named, independent attack per item of issue 13
// that a stranger can try against a running seed, all run at once beside the honest volunteers. Each
// attacker is an ordinary Node libp2p peer (test/harness/attacker.ts) or a plain HTTP client: it
// speaks only the protocols (it knows nothing of the seed's code or defences) and dials only
// loopback. Every attack is bounded: a fixed number of peers, streams or sockets, a fixed number of
// iterations each, and it stops when the soak ends.
//
// All libp2p attackers of this process dial from ATTACKER_HOST and the HTTP ones from
// HTTP_ATTACKER_HOST: strangers' addresses, never the honest volunteers' 127.0.0.1, so the seed's
// per-address budgets can tell them apart (one address each: per-address limits bind the attacks
// together).
import { setMaxListeners } from 'node:events';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { Connection, Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { WebSocket } from 'ws';
import {
  MAX_UPDATE_BYTES,
  ROUND_TOPIC,
  requestJoin,
  sendUpdate,
  UPDATE_PROTOCOL,
  UpdateRefusedError,
} from '../../src/fed';
import {
  ANNOUNCE_INTERVAL_MS,
  ANNOUNCE_TOPIC,
  encodeAnnouncement,
  encodePieceRequest,
  fromUtf8,
  MAX_PIECE_STREAMS_PER_CONNECTION,
  PIECE_PROTOCOL,
  PieceProtocolError,
  requestPiece,
  SEED_PIECE_REPEAT_MS,
  type SeedInfo,
  type SignedDocument,
  utf8,
} from '../../src/swarm';
import { emptyBitfield } from '../../src/swarm/announce';
import { type Attacker, createAttacker, dialSeed, reserveRelay } from '../../test/harness/attacker';

/** Where every libp2p attacker dials from. */
export const ATTACKER_HOST = '127.0.0.2';
/** Where every HTTP attacker connects from. */
export const HTTP_ATTACKER_HOST = '127.0.0.3';

// The harness dials from an address it is told per dial, which concurrent attacks would race on:
// here every WebSocket this process opens (only attackers' do) comes from ATTACKER_HOST.
globalThis.WebSocket = class extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    super(url, protocols, { localAddress: ATTACKER_HOST });
  }
} as unknown as typeof globalThis.WebSocket;

/** The open round as a stranger sees it on the gossip topic and at /round.json. */
export interface RoundView {
  round: number;
  /** Id of the round's weights manifest, and its number of pieces. */
  weights: string;
  pieces: number;
}

export interface SoakTarget {
  seed: { info(): SeedInfo };
  /** The seed's HTTP base URL. */
  url: string;
  /** The newest round the attackers heard of. */
  round(): RoundView | undefined;
  /** The soak's end. */
  signal: AbortSignal;
}

/** What an attack did, counted by kind (for the benchmark's notes). */
export type AttackCounts = Record<string, number>;

/** What an attack did, and the error that stopped it early, if one did. */
export interface AttackOutcome {
  counts: AttackCounts;
  error?: string;
}

export interface SoakAttack {
  /** The item of issue 13 it reproduces. */
  item: number;
  /** What it does, for the notes. */
  summary: string;
  run(target: SoakTarget, counts: AttackCounts): Promise<void>;
}

const count = (counts: AttackCounts, kind: string) => {
  counts[kind] = (counts[kind] ?? 0) + 1;
};

/** Waits `ms`, or less if the soak ends meanwhile. */
const pause = (ms: number, signal: AbortSignal) => delay(ms, undefined, { signal }).catch(() => {});

/** The attacker's connection to the seed: the open one, or a new dial (the seed may have restarted). */
async function connection(peer: Attacker, seed: SoakTarget['seed']): Promise<Connection> {
  return peer.getConnections().find((c) => c.status === 'open') ?? dialSeed(peer, seed);
}

/** Whether `ended` comes within `ms` and before the soak's end (it waits for whichever comes first). */
function endsFirst(ended: Promise<void>, signal: AbortSignal, ms = Number.POSITIVE_INFINITY): Promise<boolean> {
  return new Promise((resolve) => {
    const finish = (value: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const onAbort = () => finish(false);
    const timer = Number.isFinite(ms) ? setTimeout(() => finish(false), ms) : undefined;
    if (signal.aborted) return finish(false);
    signal.addEventListener('abort', onAbort, { once: true });
    void ended.then(() => finish(!signal.aborted));
  });
}

const streamClosed = (stream: Stream) =>
  stream.status === 'open'
    ? new Promise<void>((resolve) => stream.addEventListener('close', () => resolve(), { once: true }))
    : Promise.resolve();

/** `n` peers, each running `body` (its own attacker, stopped when it returns). */
async function gang(n: number, body: (peer: Attacker) => Promise<void>): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, async () => {
      const peer = await createAttacker();
      try {
        await body(peer);
      } finally {
        await peer.stop();
      }
    }),
  );
}

/** Runs `step` until the soak ends or `times` iterations, `gapMs` apart; a failed step is counted, not fatal. */
async function repeat(
  target: SoakTarget,
  counts: AttackCounts,
  times: number,
  gapMs: number,
  step: () => Promise<void>,
): Promise<void> {
  for (let i = 0; i < times && !target.signal.aborted; i++) {
    await step().catch(() => count(counts, 'failed'));
    await pause(gapMs, target.signal);
  }
}

/** Reads a round manifest document as a stranger would (no need to check the seed's signature). */
function roundView(doc: SignedDocument): RoundView {
  const m = JSON.parse(doc.body) as { round: number; weightsId: string; weights: SignedDocument };
  const weights = JSON.parse(m.weights.body) as { pieces: string[] };
  return { round: m.round, weights: m.weightsId, pieces: weights.pieces.length };
}

/** How often the watcher also reads /round.json (gossip usually tells it sooner), as a tab does. */
const ROUND_POLL_MS = 2_000;

/**
 * Follows the open round for the attacks: one attacker subscribed to the seed's round topic (it
 * hears a new round as soon as the honest volunteers do), and /round.json from HTTP_ATTACKER_HOST.
 */
export async function watchRounds(
  seed: SoakTarget['seed'],
  url: string,
  signal: AbortSignal,
): Promise<{ round(): RoundView | undefined; stopped: Promise<void> }> {
  let latest: RoundView | undefined;
  const offer = (doc: SignedDocument) => {
    const view = roundView(doc);
    if (!latest || view.round >= latest.round) latest = view;
  };
  const watcher = await createAttacker();
  watcher.services.pubsub.addEventListener('message', ({ detail: msg }) => {
    if (msg.topic !== ROUND_TOPIC || msg.type !== 'signed' || msg.from.toString() !== seed.info().peerId) return;
    try {
      offer(JSON.parse(fromUtf8(msg.data)) as SignedDocument);
    } catch {
      // Not a round manifest: the next one will do.
    }
  });
  watcher.services.pubsub.subscribe(ROUND_TOPIC);
  const stopped = (async () => {
    try {
      // Bounded by the soak's end; one poll at most every ROUND_POLL_MS.
      while (!signal.aborted) {
        await connection(watcher, seed).catch(() => {});
        const doc = await httpGetJson(`${url}/round.json`, signal).catch(() => undefined);
        if (doc) offer(doc as SignedDocument);
        await pause(ROUND_POLL_MS, signal);
      }
    } finally {
      await watcher.stop();
    }
  })();
  return { round: () => latest, stopped };
}

/** A GET from HTTP_ATTACKER_HOST, parsed as JSON; fails after HTTP_GET_TIMEOUT_MS. */
function httpGetJson(url: string, signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const options = {
      localAddress: HTTP_ATTACKER_HOST,
      agent: false,
      signal: AbortSignal.any([signal, AbortSignal.timeout(HTTP_GET_TIMEOUT_MS)]),
    };
    get(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`${url}: HTTP ${res.statusCode}`));
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          reject(e);
        }
      });
    }).on('error', reject);
  });
}
const HTTP_GET_TIMEOUT_MS = 5_000;

// --- The attacks. Sizes are the where it gives them; iteration bounds cover a soak of five
// minutes at each attack's pace.

/** Item 1: announcements repeated a few times per announcement period, as the attack test does. */
const LIE_INTERVAL_MS = ANNOUNCE_INTERVAL_MS / 3;
const LIES = 1_000;

/** Item 2: peers, each holding every piece stream a connection may have. */
const PAUSED_PEERS = 4;
/** How often a paused peer opens streams again in place of those the seed dropped; and at most how many it opens. */
const PAUSED_TOPUP_MS = 2_000;
const PAUSED_STREAMS_PER_PEER = 30 * MAX_PIECE_STREAMS_PER_CONNECTION;

/** Item 3: the squatter renews its copy of each piece a little before the seed's window ends. */
const SQUAT_RENEW_MS = SEED_PIECE_REPEAT_MS - 5_000;
/** It looks for a new round this often (a tab reacts at once: a slower squatter is never first). */
const SQUAT_POLL_MS = 50;
const SQUAT_CHECKS = 6_000;

/** Item 4: throwaway identities, one at a time, under libp2p's 5 connections a second per host. */
const RELAY_IDENTITIES = 600;
const RELAY_CHURN_MS = 500;

/** Item 5: peers announcing the largest update and sending part of it; the part, and how long it is held at most. */
const PARTIAL_PEERS = 30;
const PARTIAL_FRAME_BYTES = 64 * 1024;
const PARTIAL_HOLD_MS = 120_000;
const PARTIAL_FRAMES_PER_PEER = 100;
const PARTIAL_GAP_MS = 1_000;

/** Item 7: peers that join, then send malformed updates as fast as the seed answers, up to 10 a second each. */
const FLOOD_PEERS = 4;
const FLOOD_REQUESTS_PER_PEER = 3_000;
const FLOOD_GAP_MS = 100;
const FLOOD_BODY_BYTES = 64;
const FLOOD_REPLY_TIMEOUT_MS = 15_000;

/** Item 8: sockets of each HTTP attack, and how often each opens again after the seed closed it. */
const HTTP_SOCKETS = 40;
const HTTP_OPENS_PER_SOCKET = 300;
const HTTP_REOPEN_MS = 1_000;
/** The largest file the seed serves: onnxruntime-web's 28 MB wasm (its /ort/ mount). */
const LARGE_FILE = '/ort/ort-wasm-simd-threaded.jsep.wasm';
/** How often a stalled reader checks that its connection is still open, and at most how many times. */
const STALLED_PROBE_MS = 5_000;
const STALLED_PROBES = 1_000;
/** A slowloris sends one more header line this often, and never ends its headers. */
const SLOWLORIS_LINE_MS = 5_000;
const SLOWLORIS_LINES = 1_000;

/** A length prefix (unsigned varint) of `n`. */
function varint(n: number): Uint8Array {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
  out.push(n);
  return Uint8Array.from(out);
}

const updateHeader = (r: RoundView, bytes: number) => ({
  type: 'update' as const,
  round: r.round,
  weights: r.weights,
  bytes,
  tokens: 1,
  steps: 1,
  lossFirst: 1,
  lossLast: 1,
});

/** One socket from HTTP_ATTACKER_HOST, opened again after the seed closes it; `hold` misbehaves on it. */
async function httpSockets(
  target: SoakTarget,
  counts: AttackCounts,
  hold: (socket: Socket) => Promise<void>,
): Promise<void> {
  const { hostname, port } = new URL(target.url);
  await Promise.all(
    Array.from({ length: HTTP_SOCKETS }, () =>
      repeat(target, counts, HTTP_OPENS_PER_SOCKET, HTTP_REOPEN_MS, async () => {
        const socket = connect({ host: hostname, port: Number(port), localAddress: HTTP_ATTACKER_HOST });
        const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
        socket.on('error', () => count(counts, 'socket errors'));
        count(counts, 'sockets opened');
        try {
          await Promise.race([hold(socket), ended]);
          if (await endsFirst(ended, target.signal)) count(counts, 'closed by the seed');
        } finally {
          socket.destroy();
        }
      }),
    ),
  );
}

export const SOAK_ATTACKS: Record<string, SoakAttack> = {
  'fetching-lies': {
    item: 1,
    summary: `1 peer announces on the gossip topic, every ${LIE_INTERVAL_MS} ms, that it is fetching every piece of the round's weights and holds none, with a WebRTC address`,
    async run(target, counts) {
      await gang(1, async (liar) => {
        liar.services.pubsub.subscribe(ANNOUNCE_TOPIC);
        await repeat(target, counts, LIES, LIE_INTERVAL_MS, async () => {
          const r = target.round();
          if (!r) return;
          await connection(liar, target.seed);
          const all = emptyBitfield(r.pieces).fill(0xff);
          const lie = encodeAnnouncement({
            manifest: r.weights,
            have: emptyBitfield(r.pieces),
            fetching: all,
            addrs: [`${target.seed.info().addrs[0]}/p2p-circuit/webrtc/p2p/${liar.peerId}`],
          });
          await liar.services.pubsub.publish(ANNOUNCE_TOPIC, lie);
          count(counts, 'announcements');
        });
      });
    },
  },

  'paused-piece-streams': {
    item: 2,
    summary: `${PAUSED_PEERS} peers each keep ${MAX_PIECE_STREAMS_PER_CONNECTION} piece streams open with a valid request and never read the reply (streams the seed drops are opened again every ${PAUSED_TOPUP_MS / 1000} s)`,
    async run(target, counts) {
      await gang(PAUSED_PEERS, async (peer) => {
        let opened = 0;
        await repeat(target, counts, PAUSED_STREAMS_PER_PEER, PAUSED_TOPUP_MS, async () => {
          const r = target.round();
          if (!r) return;
          const conn = await connection(peer, target.seed);
          const open = conn.streams.filter((s) => s.protocol === PIECE_PROTOCOL && s.status === 'open').length;
          for (let s = open; s < MAX_PIECE_STREAMS_PER_CONNECTION && opened < PAUSED_STREAMS_PER_PEER; s++) {
            opened++;
            const stream = await conn.newStream(PIECE_PROTOCOL);
            stream.pause(); // no more window updates: the seed's reply write blocks
            await lpStream(stream).write(encodePieceRequest({ manifest: r.weights, index: s % r.pieces }));
            count(counts, 'paused streams');
          }
        });
      });
    },
  },

  'super-seeding-squatter': {
    item: 3,
    summary: `1 peer fetches every piece of each round's weights from the seed as soon as it hears of the round, stays connected, serves nobody, and fetches each again every ${SQUAT_RENEW_MS / 1000} s (just inside the seed's ${SEED_PIECE_REPEAT_MS / 1000} s super-seeding window)`,
    async run(target, counts) {
      await gang(1, async (peer) => {
        let held: { weights: string; at: number } | undefined;
        await repeat(target, counts, SQUAT_CHECKS, SQUAT_POLL_MS, async () => {
          const r = target.round();
          if (!r || (held?.weights === r.weights && Date.now() - held.at < SQUAT_RENEW_MS)) return;
          let all = true;
          for (let index = 0; index < r.pieces && !target.signal.aborted; index++) {
            const stream = await (await connection(peer, target.seed)).newStream(PIECE_PROTOCOL);
            try {
              await requestPiece(stream, { manifest: r.weights, index });
              count(counts, 'pieces fetched');
            } catch (e) {
              if (!(e instanceof PieceProtocolError)) throw e;
              all = false; // BUSY: an honest volunteer has it; try again at the next check
              count(counts, 'refused');
            }
          }
          if (all) held = { weights: r.weights, at: Date.now() };
        });
      });
    },
  },

  'relay-reservation-churn': {
    item: 4,
    summary: `${RELAY_IDENTITIES} throwaway identities, one every ${RELAY_CHURN_MS} ms, each reserve a slot on the seed's circuit relay and hang up`,
    async run(target, counts) {
      await repeat(target, counts, RELAY_IDENTITIES, RELAY_CHURN_MS, async () => {
        const peer = await createAttacker();
        try {
          await dialSeed(peer, target.seed);
          const status = await reserveRelay(peer, target.seed);
          count(counts, status === 100 ? 'reserved' : `refused (status ${status})`);
        } finally {
          await peer.stop();
        }
      });
    },
  },

  'partial-update-frames': {
    item: 5,
    summary: `${PARTIAL_PEERS} peers that never joined each announce an update of ${MAX_UPDATE_BYTES} bytes for the open round, send its first ${PARTIAL_FRAME_BYTES / 1024} KiB and hold the stream (up to ${PARTIAL_HOLD_MS / 1000} s), again and again`,
    async run(target, counts) {
      await gang(PARTIAL_PEERS, async (peer) => {
        await repeat(target, counts, PARTIAL_FRAMES_PER_PEER, PARTIAL_GAP_MS, async () => {
          const r = target.round();
          if (!r) return;
          const stream = await (await connection(peer, target.seed)).newStream(UPDATE_PROTOCOL);
          try {
            await lpStream(stream).write(utf8(JSON.stringify(updateHeader(r, MAX_UPDATE_BYTES))));
            const part = new Uint8Array(PARTIAL_FRAME_BYTES);
            const prefix = varint(MAX_UPDATE_BYTES);
            const frame = new Uint8Array(prefix.length + part.length);
            frame.set(prefix);
            frame.set(part, prefix.length);
            stream.send(frame);
            count(counts, 'partial frames');
            if (await endsFirst(streamClosed(stream), target.signal, PARTIAL_HOLD_MS))
              count(counts, 'dropped by the seed');
          } finally {
            stream.abort(new Error('the attacker leaves'));
          }
        });
      });
    },
  },

  'rejected-update-flood': {
    item: 7,
    summary: `${FLOOD_PEERS} peers join the run, then each sends malformed ${FLOOD_BODY_BYTES}-byte updates for the open round, one at a time, up to ${1000 / FLOOD_GAP_MS} a second`,
    async run(target, counts) {
      await gang(FLOOD_PEERS, async (peer) => {
        const stream = await (await connection(peer, target.seed)).newStream(UPDATE_PROTOCOL);
        await requestJoin(stream, { signal: AbortSignal.timeout(FLOOD_REPLY_TIMEOUT_MS) });
        await repeat(target, counts, FLOOD_REQUESTS_PER_PEER, FLOOD_GAP_MS, async () => {
          const r = target.round();
          if (!r) return;
          try {
            const outcome = await sendUpdate(
              await (await connection(peer, target.seed)).newStream(UPDATE_PROTOCOL),
              updateHeader(r, FLOOD_BODY_BYTES),
              new Uint8Array(FLOOD_BODY_BYTES),
              { signal: AbortSignal.any([target.signal, AbortSignal.timeout(FLOOD_REPLY_TIMEOUT_MS)]) },
            );
            count(counts, outcome.type === 'received' ? 'received' : 'rejected from its body');
          } catch (e) {
            if (!(e instanceof UpdateRefusedError)) throw e;
            count(counts, 'refused from the header');
          }
        });
      });
    },
  },

  'http-stalled-readers': {
    item: 8,
    summary: `${HTTP_SOCKETS} HTTP connections each request ${LARGE_FILE} (28 MB) and never read (an empty line every ${STALLED_PROBE_MS / 1000} s tells them the seed closed the connection; each is opened again then, up to ${HTTP_OPENS_PER_SOCKET} times)`,
    async run(target, counts) {
      const { host } = new URL(target.url);
      await httpSockets(target, counts, async (socket) => {
        socket.pause(); // nothing read: the seed's writes back up
        socket.write(`GET ${LARGE_FILE} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
        // A socket that reads nothing never sees the seed close it; a write does (the reset comes back).
        for (let i = 0; i < STALLED_PROBES && !socket.destroyed && !target.signal.aborted; i++) {
          await pause(STALLED_PROBE_MS, target.signal);
          socket.write('\r\n'); // an empty line between requests, which HTTP/1.1 servers skip
        }
      });
    },
  },

  'http-slowloris': {
    item: 8,
    summary: `${HTTP_SOCKETS} HTTP connections each send a request line and then one more header line every ${SLOWLORIS_LINE_MS / 1000} s, never ending the headers (each opened again, after the seed closes it, up to ${HTTP_OPENS_PER_SOCKET} times)`,
    async run(target, counts) {
      const { host } = new URL(target.url);
      await httpSockets(target, counts, async (socket) => {
        socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n`);
        for (let i = 0; i < SLOWLORIS_LINES && !socket.destroyed && !target.signal.aborted; i++) {
          await pause(SLOWLORIS_LINE_MS, target.signal);
          socket.write(`X-Slow-${i}: ${i}\r\n`);
        }
      });
    },
  },
};

/**
 * Runs the attacks `names` (of SOAK_ATTACKS) at once until `signal` aborts; resolves with what each
 * did (and how it failed, if it did).
 */
export async function runSoakAttacks(
  seed: SoakTarget['seed'],
  url: string,
  names: string[],
  signal: AbortSignal,
): Promise<Record<string, AttackOutcome>> {
  const results: Record<string, AttackOutcome> = {};
  if (names.length === 0) return results;
  // Every loop of every attack waits on the soak's end.
  setMaxListeners(0, signal);
  const rounds = await watchRounds(seed, url, signal);
  const target: SoakTarget = { seed, url, round: rounds.round, signal };
  await Promise.all(
    names.map(async (name) => {
      const outcome: AttackOutcome = { counts: {} };
      results[name] = outcome;
      await SOAK_ATTACKS[name]!.run(target, outcome.counts).catch((e: Error) => {
        outcome.error = e.message;
      });
    }),
  );
  await rounds.stopped;
  return results;
}
