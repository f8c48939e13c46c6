// The seed: one process that keeps the run folder, relays WebRTC signalling between tabs, serves
// weight pieces (the source of last resort) and the volunteer app, and reports its status.
import './promise-shim';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { publicKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromString } from '@libp2p/peer-id';
import { initParams, modelPreset, paramLayout, type GptConfig } from '../model';
import {
  buildManifest, createSeedNode, memoryPieceStore, superSeeding, PIECE_PROTOCOL, PieceStatus, SEED_PIECE_REPEAT_MS, pieceRange, pieceServer, signManifest, toBase64, verifyManifest,
  MAX_PIECE_STREAMS_PER_CONNECTION, type SeedInfo, type SeedNode, type UploadStats, type VerifiedManifest,
} from '../swarm';
import { loadOrCreatePeerKey, readIfExists, writeFileAtomic } from './files';
import { createHttpServer } from './http';

export interface SeedOptions {
  /** The run folder: peer key, model shape, weights, manifests. Created when missing. */
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
  log?: (line: string) => void;
}

export interface SeedStatus {
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
  weights: Float32Array;
  manifest: VerifiedManifest;
  uploads: UploadStats;
  info(): SeedInfo;
  status(): SeedStatus;
  stop(): Promise<void>;
}

interface RunRecord {
  model: GptConfig;
  createdAt: string;
}

/** Loads the run's model and weights, or creates them from the preset. */
async function loadOrCreateWeights(opts: SeedOptions): Promise<{ model: GptConfig; weights: Float32Array }> {
  const runPath = join(opts.runDir, 'run.json');
  const weightsPath = join(opts.runDir, 'weights.f32');
  const stored = await readIfExists(runPath);
  if (stored) {
    const run = JSON.parse(stored.toString('utf8')) as RunRecord;
    if (opts.model && JSON.stringify(modelPreset(opts.model)) !== JSON.stringify(run.model)) {
      throw new Error(`run folder ${opts.runDir} holds a different model (${JSON.stringify(run.model)}); pick another --run folder`);
    }
    const bytes = await readIfExists(weightsPath);
    const expected = paramLayout(run.model).total * 4;
    if (!bytes || bytes.length !== expected) throw new Error(`run folder ${opts.runDir}: weights.f32 is missing or not ${expected} bytes`);
    return { model: run.model, weights: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) };
  }
  const model = modelPreset(opts.model ?? 'tiny');
  const weights = initParams(paramLayout(model), opts.initSeed ?? 1);
  await writeFileAtomic(weightsPath, new Uint8Array(weights.buffer));
  await writeFileAtomic(runPath, JSON.stringify({ model, createdAt: new Date().toISOString() } satisfies RunRecord, null, 2));
  return { model, weights };
}

export async function startSeed(opts: SeedOptions): Promise<Seed> {
  const log = opts.log ?? (() => {});
  const host = opts.host ?? '127.0.0.1';
  const privateKey = await loadOrCreatePeerKey(opts.runDir);
  const { model, weights } = await loadOrCreateWeights(opts);

  const node = await createSeedNode(privateKey, [`/ip4/${host}/tcp/${opts.p2pPort ?? 0}/ws`]);
  const peerId = node.peerId.toString();
  const signed = await signManifest(privateKey, node.peerId, await buildManifest(weights, 'initial', model));
  const manifest = await verifyManifest(signed, node.peerId);
  await writeFileAtomic(join(opts.runDir, 'manifest.json'), JSON.stringify(signed, null, 2));

  // Pieces are views into the weight vector: no copies.
  const store = memoryPieceStore();
  const bytes = new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength);
  for (let i = 0; i < manifest.value.pieces.length; i++) {
    const [start, end] = pieceRange(manifest.value, i);
    await store.put(manifest.value.pieces[i], bytes.subarray(start, end));
  }
  const uploads: UploadStats = { uploadedBytes: 0, piecesServed: 0, refused: 0 };
  await node.handle(PIECE_PROTOCOL, pieceServer({
    manifest: (id) => (id === manifest.id ? manifest.value : undefined), store, stats: uploads,
    admit: superSeeding(SEED_PIECE_REPEAT_MS, (peer) => node.getConnections(peerIdFromString(peer)).length > 0),
    // BUSY is the super-seeding policy at work, not news; malformed requests are.
    onRefused: (peer, status, reason) => status === PieceStatus.BadRequest && log(`refused a piece request from ${peer}: ${reason}`),
  }), { maxInboundStreams: MAX_PIECE_STREAMS_PER_CONNECTION, maxOutboundStreams: MAX_PIECE_STREAMS_PER_CONNECTION });

  const info = (): SeedInfo => ({
    peerId,
    publicKey: toBase64(publicKeyToProtobuf(privateKey.publicKey)),
    addrs: node.getMultiaddrs().map(String).filter((a) => a.includes('/ws')),
    manifests: [signed],
  });
  const status = (): SeedStatus => ({
    peerId,
    peers: new Set(node.getConnections().map((c) => c.remotePeer.toString())).size,
    relayReservations: node.services.relay.reservations.size,
    uploadedBytes: uploads.uploadedBytes,
    piecesServed: uploads.piecesServed,
    refusedRequests: uploads.refused,
    manifest: { id: manifest.id, name: manifest.value.name, totalBytes: manifest.value.totalBytes, pieces: manifest.value.pieces.length },
  });

  const http: Server = createHttpServer(opts.appDir ?? 'dist', { '/swarm.json': info, '/status.json': status });
  await new Promise<void>((res, rej) => {
    http.once('error', rej);
    http.listen(opts.httpPort ?? 0, host, () => res());
  });
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : opts.httpPort;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  log(`seed ${peerId}: model ${JSON.stringify(model)}, ${manifest.value.totalBytes} bytes in ${manifest.value.pieces.length} pieces`);

  return {
    url, peerId, node, weights, manifest, uploads, info, status,
    stop: async () => {
      http.closeAllConnections();
      await new Promise<void>((res) => http.close(() => res()));
      await node.stop();
    },
  };
}
