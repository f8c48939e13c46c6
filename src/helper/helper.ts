// A helper seed (`npm run seed -- --upstream <root URL>`): a seed process that stands between its
// own volunteers and the run's root, so that a root serves thousands through a few helpers.
//
// It serves its volunteers what a seed serves (the page, /swarm.json, /round.json, the token files,
// weight pieces, WebRTC signalling through its relay, the update protocol), but it signs nothing of
// the run: rounds, weights and receipts are the root's, passed on as the root signed them (its
// /swarm.json names the root as `run`, and volunteers check every document against it). It follows
// the root's rounds (gossip over its libp2p link, and /round.json), copies the root's weights, the
// round's delta and second moment, and the token files over HTTP, checking each against the root's
// signed hashes, forwards its volunteers' joins and leaves, folds their updates into one sum as
// they come (decoded and bounded like the root's), and sends one signed partial aggregate per round,
// when every volunteer of its own that the round assigned has sent or left, or PARTIAL_MARGIN_MS
// before the deadline. It keeps the updates behind it in its spool until the next round, for the
// root to sample.
//
// Its trust: the root's operator allows its peer id (--allow-helper). The root checks samples behind
// each partial; a partial whose sample fails, or that cannot be checked, costs the root that bucket.
import '../seed/promise-shim';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import {
  assignedUpdateRefusal,
  type Contributor,
  decodeValidUpdate,
  encodedSize,
  encodeUpdate,
  HELPER_PROTOCOL,
  HELPER_REJECTION_KINDS,
  type HelperRejectionKind,
  helperHello,
  helperJoin,
  helperLeft,
  helperReceipts,
  MAX_HELPER_STREAMS_PER_CONNECTION,
  MAX_PARTIAL_CONTRIBUTORS,
  ROUND_TOPIC,
  type RoundManifest,
  SAMPLE_PROTOCOL,
  sampleServer,
  sendPartial,
  type UpdateHeader,
  type UpdateOutcome,
  verifyDeltaManifest,
  verifyMomentManifest,
  verifyRoundManifest,
} from '../fed';
import { swarmDocument, weightPieceFiles } from '../seed/documents';
import { loadOrCreatePeerKey } from '../seed/files';
import { type MemoryFiles, readTlsFiles, startHttpServer, type TlsFiles } from '../seed/http';
import { helperMetrics, metricsDocument } from '../seed/metrics';
import { startPieceService } from '../seed/piece-service';
import { startUpdateService } from '../seed/rounds';
import { openFileSpool } from '../seed/spool';
import { createTrafficCounter } from '../seed/traffic';
import { servableWeights } from '../seed/weights';
import {
  createSeedNode,
  ipOf,
  MAX_SEED_JSON_BYTES,
  PIECE_BYTES,
  type PieceManifest,
  parseSeedInfo,
  pieceRange,
  type SeedInfo,
  type SignedDocument,
  sha256Hex,
  utf8,
  verifyManifest,
} from '../swarm';
import { createSeedLink } from '../swarm/seed-link';
import { MAX_TOKEN_FILE_BYTES } from '../tab/limits';
import { startedParts } from '../util/parts';
import { fetchAtMost, fetchJsonAtMost } from '../util/read-at-most';

/** How often the root's /round.json is read, besides its gossip (a lost message only delays the helper). */
export const ROUND_POLL_MS = 3_000;
/** Time before the root's deadline at which the partial goes, whoever has not sent yet. */
export const PARTIAL_MARGIN_MS = 5_000;
/** Time between tries at saying hello to the root (it may not have allowed us yet, or be restarting). */
export const HELLO_RETRY_MS = 5_000;
/** Longest a download from the root (a token file, a weight piece, a document) may take. */
export const ROOT_FETCH_TIMEOUT_MS = 60_000;

export interface HelperOptions {
  /** The helper's folder: its peer key and its update spool. */
  runDir: string;
  /** The root's page URL. */
  upstream: string;
  host?: string;
  httpPort?: number;
  p2pPort?: number;
  appDir?: string;
  tls?: TlsFiles;
  log?: (line: string) => void;
}

export interface Helper {
  url: string;
  peerId: string;
  /** The root's peer id: the run's signer. */
  root: string;
  status(): HelperStatus;
  stop(): Promise<void>;
}

export interface HelperStatus {
  peerId: string;
  root: string;
  /** Whether the root has welcomed us since our link to it last came up. */
  welcomed: boolean;
  round: number;
  /** Volunteers connected to us that joined through us. */
  volunteers: number;
  /** This round: our volunteers it assigned, updates taken, and whether the partial went. */
  assigned: number;
  received: number;
  partialSent: boolean;
  partialsSent: number;
  /** Partials the root refused or that did not reach it. */
  partialsFailed: number;
  /** Updates taken into partials since the helper started, and those refused by kind. */
  updatesTaken: number;
  rejectedByKind: Record<HelperRejectionKind, number>;
  peers: number;
  relayReservations: number;
}

/** What the helper keeps of the round it follows. */
interface FollowedRound {
  doc: SignedDocument;
  manifest: RoundManifest;
  /** Its spool batch (each issue of a round is a new one). */
  batch: number;
  /** The weights' length in floats, and the largest update body the round's codec makes. */
  length: number;
  maxBytes: number;
  sum?: Float64Array;
  contributors: Contributor[];
  tried: Set<string>;
  partialSent: boolean;
  cancelPartial?: () => void;
}

const ORT_DIST = fileURLToPath(new URL('../../node_modules/onnxruntime-web/dist/', import.meta.url));

export async function startHelper(opts: HelperOptions): Promise<Helper> {
  const log = opts.log ?? (() => {});
  const host = opts.host ?? '127.0.0.1';
  const tls = opts.tls && (await readTlsFiles(opts.tls));
  await mkdir(opts.runDir, { recursive: true });
  const key = await loadOrCreatePeerKey(opts.runDir, false);
  const self = peerIdFromPrivateKey(key);
  const spool = await openFileSpool(opts.runDir);
  /** A file from the root, at most `max` bytes; a JSON document at most MAX_SEED_JSON_BYTES. */
  const fromRoot = (path: string, max: number) =>
    fetchAtMost(new URL(path, opts.upstream), max, { signal: AbortSignal.timeout(ROOT_FETCH_TIMEOUT_MS) });
  const jsonFromRoot = (path: string) =>
    fetchJsonAtMost(new URL(path, opts.upstream), MAX_SEED_JSON_BYTES, {
      signal: AbortSignal.timeout(ROOT_FETCH_TIMEOUT_MS),
    });
  const rootInfo: SeedInfo = parseSeedInfo(await jsonFromRoot('/swarm.json'));
  if (rootInfo.run !== undefined) throw new Error(`${opts.upstream} is a helper itself; --upstream names the root`);
  const root = rootInfo.peerId;

  const parts = startedParts();
  const traffic = createTrafficCounter();
  try {
    const weights = servableWeights();
    const node = parts.add(
      await createSeedNode({
        privateKey: key,
        listen: [`/ip4/${host}/tcp/${opts.p2pPort ?? 0}/${tls ? 'tls/ws' : 'ws'}`],
        tls,
        metrics: traffic.libp2pMetrics,
        announcements: { wanted: (manifest) => weights.manifest(manifest) !== undefined },
      }),
    );
    const rootLink = createSeedLink({ node, pubsub: node.services.pubsub, seed: rootInfo });
    parts.add({ stop: async () => rootLink.stop() });
    const isConnected = (peer: string) => node.getConnections(peerIdFromString(peer)).length > 0;

    /** Our volunteers: joined through us and connected. */
    const members = new Set<string>();
    let current: FollowedRound | undefined;
    let welcomed = false;
    let partialsSent = 0;
    let partialsFailed = 0;
    let updatesTaken = 0;
    const rejectedByKind = Object.fromEntries(HELPER_REJECTION_KINDS.map((k) => [k, 0])) as Record<
      HelperRejectionKind,
      number
    >;
    let batches = 0;
    let data: MemoryFiles | undefined;
    let stopped = false;

    const toRoot = async <T>(what: string, io: (stream: Awaited<ReturnType<typeof rootLink.stream>>) => Promise<T>) =>
      io(await rootLink.stream(HELPER_PROTOCOL, AbortSignal.timeout(ROOT_FETCH_TIMEOUT_MS))).catch((e: Error) => {
        throw new Error(`${what}: ${e.message}`);
      });

    /** Our volunteers that round `r` assigned. */
    const ownAssigned = (r: FollowedRound) => Object.keys(r.manifest.assignments).filter((p) => members.has(p));

    /** The token files, once, checked against the round's hashes. */
    async function fetchData(m: RoundManifest): Promise<void> {
      if (data) return;
      const files: MemoryFiles = {};
      for (const [name, hash] of [
        ['train', m.data.train],
        ['validation', m.data.validation],
      ] as const) {
        const body = Buffer.from(await fromRoot(`/data/${name}.u16`, MAX_TOKEN_FILE_BYTES));
        if ((await sha256Hex(body)) !== hash) throw new Error(`the root's ${name} tokens differ from the round's hash`);
        files[`/data/${name}.u16`] = { body, type: 'application/octet-stream' };
      }
      // The tokenizer only turns tokens back into text for "try the model"; no round names its hash.
      const tokenizer = Buffer.from(await fromRoot('/data/tokenizer.json', MAX_SEED_JSON_BYTES));
      files['/data/tokenizer.json'] = { body: tokenizer, type: 'application/json' };
      data = files;
    }

    /** A manifest's bytes, piece by piece from the root's HTTP, each checked against its signed hash. */
    async function copyFromRoot(m: PieceManifest): Promise<Uint8Array> {
      const bytes = new Uint8Array(m.totalBytes);
      for (const [i, hash] of m.pieces.entries()) {
        const piece = await fromRoot(`/weights/${hash}`, PIECE_BYTES);
        if ((await sha256Hex(piece)) !== hash) throw new Error(`a piece from the root does not match its hash`);
        bytes.set(piece, pieceRange(m, i)[0]);
      }
      return bytes;
    }

    /**
     * The round's weights, and its delta (for volunteers that hold the last ones) and second moment,
     * copied from the root.
     */
    async function fetchWeights(m: RoundManifest): Promise<void> {
      const manifest = await verifyManifest(m.weights, root);
      if (!weights.manifest(manifest.id))
        await weights.add(manifest, new Float32Array((await copyFromRoot(manifest.value)).buffer));
      const extras = [
        m.delta && (await verifyDeltaManifest(m.delta, root)),
        m.secondMoment && (await verifyMomentManifest(m.secondMoment, root)),
      ];
      for (const extra of extras)
        if (extra && !weights.manifest(extra.id)) await weights.setExtra(extra, await copyFromRoot(extra.value));
    }

    /** A round document from the root (gossip or /round.json): followed if it is new. */
    let adopting = Promise.resolve();
    const onRoundDoc = (doc: unknown) => {
      adopting = adopting
        .then(async () => {
          if (stopped || doc === null) return;
          const { value: m } = await verifyRoundManifest(doc, root);
          if (current && (m.round < current.manifest.round || (doc as SignedDocument).body === current.doc.body))
            return;
          if (current && isAmendment(current.manifest, m)) {
            // Newcomers assigned into the open round: it goes on with the updates already taken.
            current.doc = doc as SignedDocument;
            current.manifest = m;
            await node.services.pubsub.publish(ROUND_TOPIC, utf8(JSON.stringify(doc))).catch(() => {});
            log(`round ${m.round} amended: ${ownAssigned(current).length} of our volunteer(s) assigned`);
            return;
          }
          await fetchData(m);
          await fetchWeights(m);
          if (current) {
            current.cancelPartial?.();
            // The root has sampled the last round's updates by now: it published the next.
            void spool.drop(current.batch).catch(() => {});
          }
          const length = weights.manifest(m.weightsId)!.totalBytes / 4;
          const followed: FollowedRound = {
            doc: doc as SignedDocument,
            manifest: m,
            batch: batches++,
            length,
            maxBytes: encodedSize(length, m.codec),
            contributors: [],
            tried: new Set(),
            partialSent: false,
          };
          current = followed;
          const wait = m.deadline - PARTIAL_MARGIN_MS - Date.now();
          const timer = setTimeout(() => void sendPartialOnce(followed), Math.max(0, wait));
          followed.cancelPartial = () => clearTimeout(timer);
          await node.services.pubsub.publish(ROUND_TOPIC, utf8(JSON.stringify(doc))).catch(() => {});
          log(`round ${m.round}: ${ownAssigned(followed).length} of our volunteer(s) assigned`);
        })
        .catch((e: Error) => log(`following the root's round failed: ${e.message}`));
    };
    rootLink.subscribe(ROUND_TOPIC, (bytes: Uint8Array) => {
      try {
        onRoundDoc(JSON.parse(new TextDecoder().decode(bytes)));
      } catch {}
    });
    const poll = setInterval(() => {
      jsonFromRoot('/round.json').then(onRoundDoc, () => {});
    }, ROUND_POLL_MS);
    parts.add({ stop: async () => clearInterval(poll) });
    onRoundDoc(await jsonFromRoot('/round.json'));
    await adopting;
    if (!current) throw new Error(`the root at ${opts.upstream} has no open round to follow`);

    async function sendPartialOnce(r: FollowedRound): Promise<void> {
      if (r.partialSent || stopped || r.contributors.length === 0 || !r.sum) return;
      r.partialSent = true;
      r.cancelPartial?.();
      const mean = Float32Array.from(r.sum, (x) => x / r.contributors.length);
      const body = encodeUpdate(mean, { format: 'fp32', blockSize: 256, density: 1 });
      const terms = {
        round: r.manifest.round,
        weights: r.manifest.weightsId,
        contributors: r.contributors,
        body: await sha256Hex(body),
      };
      try {
        const outcome = await toRoot('partial', (s) => sendPartial(s, key, self, terms, body));
        partialsSent++;
        if (outcome.type !== 'received') partialsFailed++;
        log(
          `round ${r.manifest.round}: partial of ${r.contributors.length} update(s) ${outcome.type === 'received' ? 'received' : `rejected: ${outcome.reason}`} by the root`,
        );
      } catch (e) {
        partialsFailed++;
        log(`round ${r.manifest.round}: the partial did not reach the root: ${(e as Error).message}`);
      }
    }

    /** Sends the partial once every volunteer of ours that the round assigned has sent or left. */
    const sendIfNoneLeft = (r: FollowedRound) => {
      if (ownAssigned(r).every((p) => r.tried.has(p) || !isConnected(p))) void sendPartialOnce(r);
    };

    /** Why an update this header announces cannot be taken, and of which kind; or undefined. */
    const refusal = (peer: string, h: UpdateHeader): { reason: string; kind: HelperRejectionKind } | undefined => {
      const r = current;
      const late = (reason: string) => ({ reason, kind: 'late' as const });
      if (!r || h.round < r.manifest.round || r.partialSent) return late(`late: round ${h.round} is closed here`);
      if (Date.now() > r.manifest.deadline - PARTIAL_MARGIN_MS) return late(`late: round ${h.round} is closing`);
      const reason =
        assignedUpdateRefusal(peer, h, r) ??
        (!members.has(peer) ? 'join through this helper first' : undefined) ??
        (r.contributors.length >= MAX_PARTIAL_CONTRIBUTORS ? 'this helper is full this round' : undefined);
      return reason === undefined ? undefined : { reason, kind: 'refused' };
    };
    /** Counts a refusal by kind; its reason. */
    const counted = (refused: { reason: string; kind: HelperRejectionKind }): string => {
      rejectedByKind[refused.kind]++;
      return refused.reason;
    };
    const reject = (refused: { reason: string; kind: HelperRejectionKind }): UpdateOutcome => ({
      type: 'rejected',
      reason: counted(refused),
    });

    const helperRole = {
      onJoin(peer: string) {
        members.add(peer);
        const [connection] = node.getConnections(peerIdFromString(peer));
        const address = connection && ipOf(connection.remoteAddr);
        void toRoot('join', (s) => helperJoin(s, peer, address)).catch((e: Error) => log(e.message));
        return (current?.manifest.round ?? 0) + 1;
      },
      onLeave(peer: string) {
        // Holding for a while: the root assigns it nothing until it joins again.
        if (members.delete(peer)) void toRoot('left', (s) => helperLeft(s, peer)).catch(() => {});
      },
      admit(peer: string, h: UpdateHeader) {
        const refused = refusal(peer, h);
        return refused && counted(refused);
      },
      async onUpdate(peer: string, h: UpdateHeader, body: Uint8Array): Promise<UpdateOutcome> {
        const r = current!;
        const refused = refusal(peer, h);
        if (refused) return reject(refused);
        r.tried.add(peer);
        const decoded = decodeValidUpdate(body, r.manifest.codec, h.weights, {
          round: r.manifest.round,
          manifest: r.manifest.weightsId,
          length: r.length,
          minNorm: 0,
          maxNorm: r.manifest.maxNorm,
        });
        if (!('vector' in decoded)) return reject(decoded);
        const { vector } = decoded;
        const hash = await sha256Hex(body);
        await spool.put(r.batch, peer, body);
        if (r !== current || r.partialSent)
          return reject({ reason: `late: round ${h.round} is closed here`, kind: 'late' });
        const sum = r.sum ?? new Float64Array(vector.length);
        r.sum = sum;
        for (let i = 0; i < vector.length; i++) sum[i]! += vector[i]!;
        r.contributors.push({ peer, update: hash, bytes: body.length });
        updatesTaken++;
        sendIfNoneLeft(r);
        return { type: 'received', update: hash };
      },
      receipts: (peer: string, since: number) => toRoot('receipts', (s) => helperReceipts(s, peer, since)),
    };
    parts.add(await startUpdateService({ node, coordinator: helperRole, log }));
    parts.add(
      await startPieceService({
        node,
        weights: { manifest: weights.manifest, store: weights.store },
        isConnected,
        log,
      }),
    );
    await node.handle(
      SAMPLE_PROTOCOL,
      sampleServer({
        root,
        get: async (round, peer) => {
          const r = current;
          if (!r || r.manifest.round !== round || !r.contributors.some((c) => c.peer === peer)) return undefined;
          return spool.get(r.batch, peer).catch(() => undefined);
        },
      }),
      { maxInboundStreams: MAX_HELPER_STREAMS_PER_CONNECTION, maxOutboundStreams: MAX_HELPER_STREAMS_PER_CONNECTION },
    );
    parts.add({ stop: () => node.unhandle(SAMPLE_PROTOCOL) });

    const onDisconnect = (evt: CustomEvent<PeerId>) => {
      const peer = evt.detail.toString();
      if (peer === root) {
        welcomed = false;
        return;
      }
      if (!members.delete(peer)) return;
      void toRoot('left', (s) => helperLeft(s, peer)).catch(() => {});
      if (current) sendIfNoneLeft(current);
    };
    node.addEventListener('peer:disconnect', onDisconnect);

    const info = swarmDocument({
      node,
      key,
      manifests: () => (weights.newest() ? [weights.newest()!.manifest.signed] : []),
      hostNames: tls?.hostNames,
      run: root,
      upstream: opts.upstream,
    });
    const status = (): HelperStatus => ({
      peerId: self.toString(),
      root,
      welcomed,
      round: current?.manifest.round ?? 0,
      volunteers: [...members].filter(isConnected).length,
      assigned: current ? ownAssigned(current).length : 0,
      received: current?.contributors.length ?? 0,
      partialSent: current?.partialSent ?? false,
      partialsSent,
      partialsFailed,
      updatesTaken,
      rejectedByKind: { ...rejectedByKind },
      peers: node.getConnections().length,
      relayReservations: node.services.relay.reservations.size,
    });
    const http = parts.add(
      await startHttpServer({
        host,
        port: opts.httpPort ?? 0,
        appDir: opts.appDir ?? 'dist',
        routes: { '/swarm.json': info, '/status.json': status, '/round.json': () => current?.doc ?? null },
        generated: {
          '/metrics': metricsDocument(helperMetrics({ status, sent: traffic.sent, received: traffic.received })),
        },
        files: data,
        lookups: weightPieceFiles(weights),
        mounts: { '/ort/': ORT_DIST },
        onSocket: traffic.trackHttpSocket,
        log,
        tls,
      }),
    );

    // Hello until welcomed, and again whenever the link to the root comes back; our volunteers join again then.
    const hello = async () => {
      if (welcomed || stopped) return;
      try {
        await toRoot('hello', (s) => helperHello(s, http.url));
        welcomed = true;
        log(`welcomed by the root ${root}`);
        for (const peer of members) if (isConnected(peer)) await toRoot('join', (s) => helperJoin(s, peer, undefined));
      } catch (e) {
        log(`${(e as Error).message} (allow this helper on the root with --allow-helper ${self})`);
      }
    };
    const helloTimer = setInterval(() => void hello(), HELLO_RETRY_MS);
    parts.add({
      stop: async () => {
        stopped = true;
        clearInterval(helloTimer);
        current?.cancelPartial?.();
        node.removeEventListener('peer:disconnect', onDisconnect);
      },
    });
    await hello();
    log(`helper ${self} of root ${root}: serving at ${http.url}`);
    return { url: http.url, peerId: self.toString(), root, status, stop: () => parts.stop() };
  } catch (e) {
    await parts.stop().catch(() => {});
    throw e;
  }
}

/** `next` is `current` issued again with more volunteers assigned (the coordinator's amend): same weights and deadline. */
function isAmendment(current: RoundManifest, next: RoundManifest): boolean {
  return (
    next.round === current.round &&
    next.weightsId === current.weightsId &&
    next.deadline === current.deadline &&
    Object.entries(current.assignments).every(([peer, shard]) => next.assignments[peer] === shard)
  );
}
