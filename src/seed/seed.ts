// The seed: one process that keeps the run folder, relays WebRTC signalling between tabs, serves
// weight pieces (the source of last resort), coordinates the federated rounds, checkpoints them,
// and serves the volunteer app and the run's public documents over HTTP.
import './promise-shim';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publicKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromString } from '@libp2p/peer-id';
import {
  type Coordinator,
  type CoordinatorState,
  type CoordinatorStatus,
  createCoordinator,
  DEFAULT_FED_SETTINGS,
  type FedSettings,
  MAX_UPDATE_STREAMS_PER_CONNECTION,
  ROUND_TOPIC,
  UPDATE_PROTOCOL,
  updateServer,
} from '../fed';
import { type GptConfig, gptForwardCpu, initParams, modelPreset, paramLayout } from '../model';
import {
  buildManifest,
  createSeedNode,
  MAX_PIECE_STREAMS_PER_CONNECTION,
  PIECE_PROTOCOL,
  PieceStatus,
  type PieceStore,
  pieceRange,
  pieceServer,
  SEED_PIECE_REPEAT_MS,
  type SeedInfo,
  type SeedNode,
  signManifest,
  superSeeding,
  toBase64,
  type UploadStats,
  utf8,
  type VerifiedManifest,
  verifyManifest,
} from '../swarm';
import { loadCheckpoint, saveCheckpoint } from './checkpoint';
import { loadOrCreateData } from './data';
import { loadOrCreatePeerKey, readIfExists, writeFileAtomic } from './files';
import { createHttpServer } from './http';

export interface SeedOptions {
  /** The run folder: peer key, model shape, weights, data, checkpoints. Created when missing. */
  runDir: string;
  /** Address both listeners bind; loopback by default. */
  host?: string;
  /** HTTP port for the app and JSON documents; 0 picks a free one. */
  httpPort?: number;
  /** WebSocket port for libp2p; 0 picks a free one. */
  p2pPort?: number;
  /** Model preset for a new run folder; an existing folder keeps its own (and refuses another). */
  model?: string;
  /** Built volunteer app to serve (vite build's output). */
  appDir?: string;
  /** Seed of the weight init for a new run. */
  initSeed?: number;
  /** Federated settings over DEFAULT_FED_SETTINGS. */
  fed?: Partial<FedSettings>;
  log?: (line: string) => void;
}

export interface SeedStatus extends CoordinatorStatus {
  peerId: string;
  /** Peers connected right now (tabs). */
  peers: number;
  relayReservations: number;
  uploadedBytes: number;
  piecesServed: number;
  refusedRequests: number;
  manifest: { id: string; name: string; totalBytes: number; pieces: number };
}

export interface Seed {
  /** The volunteer page's URL. */
  url: string;
  peerId: string;
  node: SeedNode;
  /** The current global weights and their manifest. */
  readonly weights: Float32Array;
  readonly manifest: VerifiedManifest;
  coordinator: Coordinator;
  uploads: UploadStats;
  info(): SeedInfo;
  status(): SeedStatus;
  stop(): Promise<void>;
}

/** onnxruntime-web's wasm files, served at /ort/ for the page's "try the model". */
const ORT_DIST = fileURLToPath(new URL('../../node_modules/onnxruntime-web/dist/', import.meta.url));
/** Validation batches the seed evaluates the global model on after every round (CPU reference). */
const EVAL_BATCHES = 4;
const EVAL_BATCH_SIZE = 8;
/** Weight manifests kept servable: the current one and the one before (tabs may still be fetching it). */
const KEEP_MANIFESTS = 2;

interface RunRecord {
  model: GptConfig;
  createdAt: string;
}

/** Loads the run's model and initial weights, or creates them from the preset. */
async function loadOrCreateWeights(opts: SeedOptions): Promise<{ model: GptConfig; weights: Float32Array }> {
  const runPath = join(opts.runDir, 'run.json');
  const weightsPath = join(opts.runDir, 'weights.f32');
  const stored = await readIfExists(runPath);
  if (stored) {
    const run = JSON.parse(stored.toString('utf8')) as RunRecord;
    if (opts.model && JSON.stringify(modelPreset(opts.model)) !== JSON.stringify(run.model)) {
      throw new Error(
        `run folder ${opts.runDir} holds a different model (${JSON.stringify(run.model)}); pick another --run folder`,
      );
    }
    const bytes = await readIfExists(weightsPath);
    const expected = paramLayout(run.model).total * 4;
    if (!bytes || bytes.length !== expected)
      throw new Error(`run folder ${opts.runDir}: weights.f32 is missing or not ${expected} bytes`);
    return {
      model: run.model,
      weights: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)),
    };
  }
  const model = modelPreset(opts.model ?? 'tiny');
  const weights = initParams(paramLayout(model), opts.initSeed ?? 1);
  await writeFileAtomic(weightsPath, new Uint8Array(weights.buffer));
  await writeFileAtomic(
    runPath,
    JSON.stringify({ model, createdAt: new Date().toISOString() } satisfies RunRecord, null, 2),
  );
  return { model, weights };
}

export async function startSeed(opts: SeedOptions): Promise<Seed> {
  const log = opts.log ?? (() => {});
  const host = opts.host ?? '127.0.0.1';
  const settings: FedSettings = { ...DEFAULT_FED_SETTINGS, ...opts.fed };
  const privateKey = await loadOrCreatePeerKey(opts.runDir);
  const { model, weights: initial } = await loadOrCreateWeights(opts);
  const layout = paramLayout(model);
  const data = await loadOrCreateData(opts.runDir, model.vocab);
  const state: CoordinatorState = (await loadCheckpoint(opts.runDir, layout.total)) ?? {
    round: 0,
    params: initial,
    momentum: new Float32Array(layout.total),
    history: [],
    tokens: 0,
    acceptedUpdates: 0,
    rejectedUpdates: 0,
    receipts: [],
  };
  if (state.round > 0) log(`resuming from the checkpoint of round ${state.round}`);

  const node = await createSeedNode(privateKey, [`/ip4/${host}/tcp/${opts.p2pPort ?? 0}/ws`]);
  let coordinator: Coordinator | undefined;
  let http: Server | undefined;
  try {
    const peerId = node.peerId.toString();
    const connected = (peer: string) => node.getConnections(peerIdFromString(peer)).length > 0;

    // Weight manifests and their pieces (copies: the coordinator updates the weights in place).
    const retained: { manifest: VerifiedManifest; weights: Float32Array }[] = [];
    const pieces = new Map<string, Uint8Array>();
    const store: PieceStore = {
      get: async (hash) => pieces.get(hash),
      has: async (hash) => pieces.has(hash),
      put: async () => {
        throw new Error('the seed only serves its own pieces');
      },
    };
    async function publishWeights(params: Float32Array, name: string): Promise<VerifiedManifest> {
      const weights = params.slice();
      const manifest = await verifyManifest(
        await signManifest(privateKey, node.peerId, await buildManifest(weights, name, model)),
        node.peerId,
      );
      if (retained.at(-1)?.manifest.id === manifest.id) return manifest;
      retained.push({ manifest, weights });
      retained.splice(0, Math.max(0, retained.length - KEEP_MANIFESTS));
      pieces.clear();
      for (const r of retained) {
        const bytes = new Uint8Array(r.weights.buffer);
        for (const [i, hash] of r.manifest.value.pieces.entries()) {
          pieces.set(hash, bytes.subarray(...pieceRange(r.manifest.value, i)));
        }
      }
      await writeFileAtomic(join(opts.runDir, 'manifest.json'), JSON.stringify(manifest.signed, null, 2));
      return manifest;
    }
    const current = () => retained.at(-1)!;

    const uploads: UploadStats = { uploadedBytes: 0, piecesServed: 0, refused: 0 };
    await node.handle(
      PIECE_PROTOCOL,
      pieceServer({
        manifest: (id) => retained.find((r) => r.manifest.id === id)?.manifest.value,
        store,
        stats: uploads,
        admit: superSeeding(SEED_PIECE_REPEAT_MS, connected),
        // BUSY is the super-seeding policy at work, not news; malformed requests are.
        onRefused: (peer, status, reason) =>
          status === PieceStatus.BadRequest && log(`refused a piece request from ${peer}: ${reason}`),
      }),
      { maxInboundStreams: MAX_PIECE_STREAMS_PER_CONNECTION, maxOutboundStreams: MAX_PIECE_STREAMS_PER_CONNECTION },
    );

    const evalBatches = data.dataset.evalBatches(EVAL_BATCHES, {
      batchSize: EVAL_BATCH_SIZE,
      context: settings.hyper.context,
    });
    const c = createCoordinator(
      {
        key: privateKey,
        peerId: node.peerId,
        data: data.sha256,
        publishWeights,
        isConnected: connected,
        log,
        publishRound: (signed) =>
          void node.services.pubsub.publish(ROUND_TOPIC, utf8(JSON.stringify(signed))).catch(() => {}),
        evaluate: async (params) =>
          evalBatches.reduce(
            (sum, b) =>
              sum + gptForwardCpu(layout, params, b.inputs, b.targets, EVAL_BATCH_SIZE, settings.hyper.context).loss!,
            0,
          ) / EVAL_BATCHES,
        persist: (s) => saveCheckpoint(opts.runDir, s),
      },
      settings,
      state,
    );
    coordinator = c;
    await node.handle(
      UPDATE_PROTOCOL,
      updateServer({
        onJoin: (peer) => c.onJoin(peer),
        onUpdate: (peer, header, body) => c.onUpdate(peer, header, body),
        onError: (peer, message) => log(`bad update request from ${peer}: ${message}`),
      }),
      { maxInboundStreams: MAX_UPDATE_STREAMS_PER_CONNECTION, maxOutboundStreams: MAX_UPDATE_STREAMS_PER_CONNECTION },
    );
    // Publishes the open round (and its weights) before anyone can ask for them.
    await c.start();

    const info = (): SeedInfo => ({
      peerId,
      publicKey: toBase64(publicKeyToProtobuf(privateKey.publicKey)),
      addrs: node
        .getMultiaddrs()
        .map(String)
        .filter((a) => a.includes('/ws')),
      manifests: [current().manifest.signed],
    });
    const status = (): SeedStatus => {
      const m = current().manifest;
      return {
        ...c.status(),
        peerId,
        peers: new Set(node.getConnections().map((c) => c.remotePeer.toString())).size,
        relayReservations: node.services.relay.reservations.size,
        uploadedBytes: uploads.uploadedBytes,
        piecesServed: uploads.piecesServed,
        refusedRequests: uploads.refused,
        manifest: { id: m.id, name: m.value.name, totalBytes: m.value.totalBytes, pieces: m.value.pieces.length },
      };
    };

    const server = createHttpServer(
      opts.appDir ?? 'dist',
      {
        '/swarm.json': info,
        '/status.json': status,
        '/round.json': () => c.currentRound() ?? null,
      },
      {
        '/data/train.u16': { body: data.files.train, type: 'application/octet-stream' },
        '/data/validation.u16': { body: data.files.validation, type: 'application/octet-stream' },
        '/data/tokenizer.json': { body: data.files.tokenizer, type: 'application/json' },
      },
      { '/ort/': ORT_DIST },
    );
    http = server;
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(opts.httpPort ?? 0, host, () => res());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : opts.httpPort;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
    log(
      `seed ${peerId}: model ${JSON.stringify(model)}, ${layout.total * 4} bytes in ${current().manifest.value.pieces.length} pieces`,
    );
    return {
      url,
      peerId,
      node,
      coordinator: c,
      uploads,
      info,
      status,
      get weights() {
        return current().weights;
      },
      get manifest() {
        return current().manifest;
      },
      stop: async () => {
        c.stop();
        server.closeAllConnections();
        await new Promise<void>((res) => server.close(() => res()));
        await node.stop();
      },
    };
  } catch (e) {
    // Whatever started must stop: a half-started seed would keep its ports and timers.
    coordinator?.stop();
    http?.close();
    await node.stop();
    throw e;
  }
}
