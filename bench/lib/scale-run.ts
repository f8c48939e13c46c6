// One case of the scale benchmark (bench/scale.ts), in a child process of its own, so that its peak
// memory is the seed's: the real coordinator (src/fed/coordinator.ts) with a real run folder
// (checkpoints, the receipt ledger, the update spool), the validation loss on the tiny model, and the
// update protocol's real server (updateServer) reached over libp2p's in-memory stream pairs, one per
// request, as a connection's streams would reach it. Only verification is left out (every update is
// accepted): its cost per update is the Byzantine benchmark's verify_overhead, and it is the part
// helper seeds split between them.
//
// Simulated volunteers join through the protocol, and in each round they are assigned:
//   - LEAVE_SHARE leave at LEAVE_AT of the round (disconnected, never send);
//   - the others send a well-formed int8 update of the model's size (one of UPDATE_POOL random ones)
//     at a uniform time in [SEND_FROM, SEND_UNTIL] of the round, STRAGGLER_SHARE of them in
//     [SEND_UNTIL, STRAGGLE_UNTIL];
//   - JOIN_SHARE × N new volunteers join during the round (assigned from the next).
// With helpers, the volunteers are dealt out over that many simulated helper seeds, each speaking
// the real helper protocol to the root's real registry (src/seed/helpers.ts): joins and leaves for
// its volunteers, and once all of its volunteers that stayed have sent, one signed partial (the fp32
// mean of what they sent); the root fetches the samples it draws from it. What volunteers send their
// helper is not the root's ingress.

import { readFileSync } from 'node:fs';
import '../../src/seed/promise-shim'; // first: libp2p on Node 20
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Connection, PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { streamPair } from '@libp2p/utils';
import {
  type Contributor,
  createCoordinator,
  DEFAULT_FED_SETTINGS,
  decodeUpdate,
  encodeUpdate,
  type FedSettings,
  helperJoin,
  helperLeft,
  type RoundManifest,
  requestJoin,
  sendPartial,
  sendUpdate,
  updateServer,
} from '../../src/fed';
import { LEFT_GRACE_MS } from '../../src/fed/coordinator';
import { helperRegistry } from '../../src/seed/helpers';
import { openRunFolder } from '../../src/seed/run-folder';
import { openFileSpool } from '../../src/seed/spool';
import { validationLoss } from '../../src/seed/validation';
import { sha256Hex } from '../../src/swarm';
import { buildManifest, signManifest, verifyManifest } from '../../src/swarm/manifest';
import { createRandom, randomUniform } from '../../src/util/random';

export interface ScaleJob {
  /** A run folder whose token files the parent made (loadOrCreateData), for the tiny model. */
  runDir: string;
  volunteers: number;
  /** The coordinator's bucket count (FedSettings.buckets). */
  buckets: number;
  /** Helper seeds the volunteers are spread over; 0: every volunteer sends to the root. */
  helpers: number;
  /** Rounds measured (each closed and the next published). */
  rounds: number;
  roundMs: number;
  seed: number;
}

export interface ScaleRound {
  assigned: number;
  /** Assigned and did not leave. */
  stayed: number;
  accepted: number;
  /** From the round's close trigger (its last update, or the last leaver's grace ending) to the next round's publication. */
  closeSeconds: number;
  /** The coordinator's aggregation time for the round (robust rule and outer step). */
  aggregateSeconds: number;
  /** Bytes the volunteers sent through the update protocol in the round (headers, bodies, framing). */
  ingressBytes: number;
}

export interface ScaleResult {
  parameters: number;
  rounds: ScaleRound[];
  /** VmHWM: the process's peak resident memory; and its resident memory before the first round. */
  peakRssMib: number;
  startRssMib: number;
}

const LEAVE_SHARE = 0.3;
const JOIN_SHARE = 0.3;
const STRAGGLER_SHARE = 0.1;
const LEAVE_AT = 0.2;
const SEND_FROM = 0.05;
const SEND_UNTIL = 0.45;
const STRAGGLE_UNTIL = 0.8;
/** Distinct random updates the volunteers send (encoding one per volunteer would be the benchmark's own CPU). */
const UPDATE_POOL = 16;
/** Each coordinate uniform in ±this: a norm of 0.029·√P, well inside the tiny model's admission bound 0.24·√P. */
const UPDATE_AMPLITUDE = 0.05;

const memoryMib = (field: 'VmHWM' | 'VmRSS') => {
  const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
  return m ? Number(m[1]) / 1024 : Number.NaN;
};

export async function runScaleJob(job: ScaleJob): Promise<ScaleResult> {
  const run = await openRunFolder({ runDir: job.runDir, model: 'tiny' });
  const key = run.key;
  const peerId = peerIdFromPrivateKey(key);
  const P = run.state.params.length;
  const settings: FedSettings = {
    ...DEFAULT_FED_SETTINGS,
    // Room for every volunteer and the round's newcomers.
    shardCount: 2 * job.volunteers,
    roundMs: job.roundMs,
    buckets: job.buckets,
  };
  const random = createRandom(job.seed);
  const pool = Array.from({ length: UPDATE_POOL }, (_, k) =>
    encodeUpdate(randomUniform(P, job.seed * 100 + k, UPDATE_AMPLITUDE), settings.codec),
  );
  const evaluate = validationLoss(run.model, run.data.dataset, settings.hyper.context);
  const connected = new Set<string>();
  const addresses = new Map<string, string>();
  const helperKeys = await Promise.all(Array.from({ length: job.helpers }, () => generateKeyPair('Ed25519')));
  const helperIds = helperKeys.map((k) => peerIdFromPrivateKey(k));
  let ingress = 0;
  /** The pool entry each volunteer behind a helper last sent (what the root's samples fetch). */
  const sentBy = new Map<string, number>();
  const registry = helperRegistry({
    connected: () => true,
    // The samples the root fetches are bytes into it too.
    fetchSample: async (_helper, _round, peer) => {
      const body = pool[sentBy.get(peer)!]!;
      ingress += body.length;
      return body;
    },
    coordinator: () => coordinator,
    allowed: helperIds.map(String),
    log: () => {},
  });
  let published: ((round: RoundManifest) => void) | undefined;
  const coordinator = createCoordinator(
    {
      key,
      peerId,
      data: run.data.sha256,
      async publishWeights(params, name) {
        const weights = await verifyManifest(
          await signManifest(key, peerId, await buildManifest(params.slice(), name, run.model)),
          peerId,
        );
        return { weights };
      },
      publishRound: (_signed, manifest) => published?.(manifest),
      isConnected: (peer) => (registry.stands(peer) ? registry.holds(peer) : connected.has(peer)),
      addressOf: (peer) => registry.addressOf(peer) ?? addresses.get(peer),
      evaluate: async (params) => evaluate(params),
      verify: async (j) => new Map(j.updates.peers.map((peer) => [peer, { accepted: true }])),
      persist: (state) => run.saveCheckpoint(state),
      issueReceipts: (entries) => run.ledger.issue(entries),
      ledgerRoot: () => run.ledger.root(),
      recentReceipts: (peer, since) => run.ledger.recent(peer, since),
      log: () => {},
      spool: await openFileSpool(job.runDir),
      fetchSample: registry.fetchSample,
    },
    settings,
    run.state,
  );
  const server = updateServer({
    onJoin: (peer) => coordinator.onJoin(peer),
    onLeave: (peer) => coordinator.onLeave(peer),
    admit: (peer, header) => coordinator.admit(peer, header),
    onUpdate: (peer, header, body) => coordinator.onUpdate(peer, header, body),
    onReceipts: (peer, since) => coordinator.receipts(peer, since),
  });
  /** One request's stream to the root's `handler`, as `peer`'s connection would open it; counts what it sends. */
  async function stream(peer: PeerId, handler = server) {
    const [outbound, inbound] = await streamPair();
    const send = outbound.send.bind(outbound);
    outbound.send = (data) => {
      ingress += data.byteLength;
      return send(data);
    };
    void Promise.resolve(handler(inbound, { remotePeer: peer } as unknown as Connection)).catch(() => {});
    return outbound;
  }
  const peers = new Map<string, PeerId>();
  let joinedCount = 0;
  const newId = async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  async function join(id: PeerId): Promise<void> {
    const name = id.toString();
    const n = joinedCount++;
    peers.set(name, id);
    connected.add(name);
    // Distinct addresses: newcomers' per-address slots are not what this measures.
    const address = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
    addresses.set(name, address);
    if (job.helpers === 0) await requestJoin(await stream(id));
    else {
      const h = n % job.helpers;
      helperOf.set(name, h);
      await helperJoin(await stream(helperIds[h]!, registry.handler), name, address);
    }
  }
  const helperOf = new Map<string, number>();
  const poolVectors = pool.map((body) => decodeUpdate(body, P, settings.codec));
  const poolHashes = await Promise.all(pool.map((body) => sha256Hex(body)));
  /** A helper's round: the sum of what its volunteers sent, who they were, and how many it waits for. */
  interface HelperRound {
    sum: Float64Array;
    contributors: Contributor[];
    waiting: number;
  }
  /** `peer` sends its update to helper `helper`; the helper's partial goes with the last one it waits for (true). */
  async function sendToHelper(manifest: RoundManifest, h: HelperRound, helper: number, peer: string): Promise<boolean> {
    const j = Math.floor(random() * pool.length);
    sentBy.set(peer, j);
    const v = poolVectors[j]!;
    for (let i = 0; i < P; i++) h.sum[i]! += v[i]!;
    h.contributors.push({ peer, update: poolHashes[j]!, bytes: pool[j]!.length });
    if (--h.waiting > 0) return false;
    const mean = Float32Array.from(h.sum, (x) => x / h.contributors.length);
    const body = encodeUpdate(mean, { format: 'fp32', blockSize: 256, density: 1 });
    const terms = {
      round: manifest.round,
      weights: manifest.weightsId,
      contributors: h.contributors,
      body: await sha256Hex(body),
    };
    const outcome = await sendPartial(
      await stream(helperIds[helper]!, registry.handler),
      helperKeys[helper]!,
      helperIds[helper]!,
      terms,
      body,
    );
    if (outcome.type !== 'received') throw new Error(`a helper's partial was not received: ${outcome.reason}`);
    return true;
  }

  const rounds: ScaleRound[] = [];
  let startRssMib = 0;
  await new Promise<void>((resolve, reject) => {
    let trigger = 0;
    let previous: { assigned: number; stayed: number; ingressAtStart: number; acceptedBefore: number } | undefined;
    const timers = new Set<NodeJS.Timeout>();
    const at = (ms: number, fn: () => Promise<void> | void) => {
      const t = setTimeout(() => {
        timers.delete(t);
        Promise.resolve(fn()).catch(reject);
      }, ms);
      timers.add(t);
    };
    published = (manifest) => {
      const now = performance.now();
      const assigned = Object.keys(manifest.assignments);
      if (assigned.length === 0) return;
      if (previous) {
        const status = coordinator.status();
        rounds.push({
          assigned: previous.assigned,
          stayed: previous.stayed,
          accepted: status.acceptedUpdates - previous.acceptedBefore,
          closeSeconds: (now - trigger) / 1000,
          aggregateSeconds: status.aggregation.lastSeconds,
          ingressBytes: ingress - previous.ingressAtStart,
        });
      } else startRssMib = memoryMib('VmRSS');
      if (rounds.length === job.rounds) {
        for (const t of timers) clearTimeout(t);
        resolve();
        return;
      }
      trigger = now;
      const order = [...assigned].sort(() => random() - 0.5);
      const leaving = order.slice(0, Math.round(LEAVE_SHARE * order.length));
      const sending = order.slice(leaving.length);
      previous = {
        assigned: assigned.length,
        stayed: sending.length,
        ingressAtStart: ingress,
        acceptedBefore: coordinator.status().acceptedUpdates,
      };
      const ms = job.roundMs;
      at(LEAVE_AT * ms, async () => {
        for (const p of leaving) connected.delete(p);
        for (const p of leaving) {
          const h = helperOf.get(p);
          if (h !== undefined) await helperLeft(await stream(helperIds[h]!, registry.handler), p);
        }
        coordinator.onLeft();
        trigger = Math.max(trigger, performance.now() + LEFT_GRACE_MS);
      });
      const helperRounds = helperIds.map(
        () => ({ sum: new Float64Array(P), contributors: [], waiting: 0 }) as HelperRound,
      );
      for (const p of sending) {
        const h = helperOf.get(p);
        if (h !== undefined) helperRounds[h]!.waiting++;
      }
      for (const p of sending) {
        const straggler = random() < STRAGGLER_SHARE;
        const when = straggler
          ? SEND_UNTIL + random() * (STRAGGLE_UNTIL - SEND_UNTIL)
          : SEND_FROM + random() * (SEND_UNTIL - SEND_FROM);
        at(when * ms, async () => {
          const h = helperOf.get(p);
          if (h !== undefined) {
            if (await sendToHelper(manifest, helperRounds[h]!, h, p)) trigger = Math.max(trigger, performance.now());
            return;
          }
          const body = pool[Math.floor(random() * pool.length)]!;
          const header = {
            type: 'update' as const,
            round: manifest.round,
            weights: manifest.weightsId,
            tokens: manifest.hyper.steps * manifest.hyper.batchSize * manifest.hyper.context,
            steps: manifest.hyper.steps,
            lossFirst: 6,
            lossLast: 5,
          };
          const outcome = await sendUpdate(await stream(peers.get(p)!), header, body);
          if (outcome.type !== 'received') throw new Error(`an honest update was not received: ${outcome.reason}`);
          trigger = Math.max(trigger, performance.now());
        });
      }
      const newcomers = Math.round(JOIN_SHARE * job.volunteers);
      for (let k = 0; k < newcomers; k++) at((0.1 + 0.5 * random()) * ms, async () => join(await newId()));
    };
    // The first volunteers' keys are made before the run starts, so that they all join the first round.
    Promise.all(Array.from({ length: job.volunteers }, newId))
      .then(async (first) => {
        await coordinator.start();
        for (const id of first) await join(id);
      })
      .catch(reject);
  });
  await coordinator.stop();
  return { parameters: P, rounds, peakRssMib: memoryMib('VmHWM'), startRssMib };
}
