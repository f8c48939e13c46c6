// The seed: one process that keeps the run folder, relays WebRTC signalling between tabs, serves
// weight pieces (the source of last resort), coordinates the federated rounds, checkpoints them,
// and serves the volunteer app and the run's public documents over HTTP. Built from parts, each
// made from the components it needs and stopped in reverse order.
import './promise-shim';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { type Coordinator, DEFAULT_FED_SETTINGS, type FedSettings, intensityAt } from '../fed';
import type { GptConfig } from '../model';
import { createSeedNode, ipOf, type SeedInfo, type SeedNode, type UploadStats, type VerifiedManifest } from '../swarm';
import { roundShapeProblem } from '../tab/round-check';
import type { Clock } from '../util/clock';
import { startedParts } from '../util/parts';
import { dashboardData, runConfiguration } from './dashboard';
import { dashboardStreams } from './dashboard-stream';
import { dataFiles, type SeedStatus, seedDocuments, weightPieceFiles } from './documents';
import { loadGridSchedule } from './grid';
import { startHelperService } from './helpers';
import { readTlsFiles, startHttpServer, type TlsFiles } from './http';
import { checkIceOptions, type IceOptions, iceServersFor } from './ice';
import { LEDGER_FILE } from './ledger';
import { metricsDocument, seedMetrics } from './metrics';
import { startPieceService } from './piece-service';
import { createRoundCoordinator, startUpdateService } from './rounds';
import { openRunFolder } from './run-folder';
import { createRoundTimeline } from './timeline';
import { createTrafficCounter } from './traffic';
import { createWeightsPublisher } from './weights';

export interface SeedOptions {
  /** The run folder: peer key, model shape, weights, data, checkpoints. Created when missing. */
  runDir: string;
  /** Address both listeners bind; loopback by default. */
  host?: string;
  /** HTTP port for the app and JSON documents; 0 picks a free one. */
  httpPort?: number;
  /** WebSocket port for libp2p; 0 picks a free one. */
  p2pPort?: number;
  /** Model of a new run folder, a preset's name or a shape; an existing folder keeps its own (and refuses another). */
  model?: string | GptConfig;
  /** The researcher's corpus (a .txt file, a folder of them, or .jsonl) for a new run; the Brown corpus without. */
  data?: string;
  /** Grid carbon-intensity exports (Electricity Maps CSV or JSON, WattTime JSON) served at /grid.json; none by default. */
  grid?: readonly string[];
  /** Built volunteer app to serve (vite build's output). */
  appDir?: string;
  /** Seed of the weight init for a new run. */
  initSeed?: number;
  /** Federated settings over DEFAULT_FED_SETTINGS. */
  fed?: Partial<FedSettings>;
  log?: (line: string) => void;
  /** Time of round deadlines and super-seeding (tests move a manual one). Default: the system's. */
  clock?: Clock;
  /** Serve https and wss with this certificate and key; http and ws without. */
  tls?: TlsFiles;
  /** STUN and TURN servers published to tabs in /swarm.json (ice.ts); none by default. */
  ice?: IceOptions;
  /** Peer ids allowed to act as helper seeds of this run (helpers.ts); none by default. */
  helpers?: readonly string[];
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

export async function startSeed(opts: SeedOptions): Promise<Seed> {
  const { clock } = opts;
  const log = opts.log ?? (() => {});
  const host = opts.host ?? '127.0.0.1';
  const settings: FedSettings = { ...DEFAULT_FED_SETTINGS, ...opts.fed };
  const tls = opts.tls && (await readTlsFiles(opts.tls));
  const ice = opts.ice ?? { stun: [], turn: [] };
  checkIceOptions(ice);
  const grid = await loadGridSchedule(opts.grid ?? []);
  const run = await openRunFolder({
    runDir: opts.runDir,
    model: opts.model,
    initSeed: opts.initSeed,
    data: { corpus: opts.data, fits: { shardCount: settings.shardCount, context: settings.hyper.context } },
    admits: refuseUntrainableRounds(settings),
  });
  for (const warning of run.warnings) log(`checkpoint passed over: ${warning}`);
  if (run.state.round > 0) log(`resuming from the checkpoint of round ${run.state.round}`);

  const parts = startedParts();
  const traffic = createTrafficCounter();
  try {
    const weights = createWeightsPublisher({ key: run.key, model: run.model, save: run.saveManifest });
    const node = parts.add(
      await createSeedNode({
        privateKey: run.key,
        listen: [`/ip4/${host}/tcp/${opts.p2pPort ?? 0}/${tls ? 'tls/ws' : 'ws'}`],
        tls,
        metrics: traffic.libp2pMetrics,
        // Announcements of weights the seed no longer serves help nobody: they are not passed on.
        announcements: { wanted: (manifest) => weights.manifest(manifest) !== undefined, clock },
      }),
    );
    let coordinatorOf: (() => Coordinator) | undefined;
    const helpers = parts.add(
      await startHelperService({
        node,
        coordinator: () => coordinatorOf!(),
        allowed: opts.helpers ?? [],
        log,
        clock,
      }),
    );
    // A volunteer is here directly, or (joined through a helper) behind a helper that is.
    const isConnected = (peer: string) =>
      helpers.stands(peer) ? helpers.holds(peer) : node.getConnections(peerIdFromString(peer)).length > 0;
    const addressOf = (peer: string) => {
      if (helpers.stands(peer)) return helpers.addressOf(peer);
      const [connection] = node.getConnections(peerIdFromString(peer));
      return connection && ipOf(connection.remoteAddr);
    };
    const pieces = parts.add(await startPieceService({ node, weights, isConnected, log, clock }));
    const timeline = createRoundTimeline(clock);
    const coordinator = parts.add(
      await createRoundCoordinator({
        run,
        weights,
        pubsub: node.services.pubsub,
        isConnected,
        addressOf,
        settings,
        log,
        clock,
        fetchSample: helpers.fetchSample,
        gridIntensity: grid && ((region, at) => intensityAt(grid, region, at)),
        timeline,
      }),
    );
    coordinatorOf = () => coordinator;
    // A helper that leaves takes its volunteers with it: they are waited for no longer than LEFT_GRACE_MS
    // from then. (A volunteer of the root's own is checked at the next update, as before: a direct
    // link that drops briefly under load must not start its grace early.)
    const onLeft = (evt: CustomEvent<PeerId>) => helpers.isHelper(evt.detail.toString()) && coordinator.onLeft();
    node.addEventListener('peer:disconnect', onLeft);
    parts.add({ stop: async () => node.removeEventListener('peer:disconnect', onLeft) });
    const joinDirectly = (peer: string) => {
      helpers.forget(peer);
      return coordinator.onJoin(peer);
    };
    parts.add(await startUpdateService({ node, coordinator: { ...coordinator, onJoin: joinDirectly }, log, clock }));
    // Publishes the open round (and its weights) before anyone can ask for them.
    await coordinator.start();
    const documents = seedDocuments({
      node,
      key: run.key,
      weights,
      coordinator,
      uploads: pieces.uploads,
      sent: traffic.sent,
      hostNames: tls?.hostNames,
      iceServers: () => iceServersFor(ice, clock?.now() ?? Date.now()),
      helpers: helpers.list,
    });
    // The dashboard (/dashboard): its page is the built app's dashboard.html, its data an event stream.
    const dashboard = parts.add(
      dashboardStreams(
        dashboardData({
          config: runConfiguration(run, settings),
          status: documents.status,
          received: traffic.received,
          rounds: timeline.rounds,
          topContributors: run.ledger.topContributors,
          clock,
        }),
        { clock },
      ),
    );
    const appDir = opts.appDir ?? 'dist';
    const http = parts.add(
      await startHttpServer({
        host,
        port: opts.httpPort ?? 0,
        appDir,
        // A 404 without a schedule tells tabs (of any origin) to hide the grid option.
        routes: { ...documents.routes, '/grid.json': () => grid },
        generated: {
          '/metrics': metricsDocument(
            seedMetrics({ status: documents.status, sent: traffic.sent, received: traffic.received }),
          ),
        },
        files: dataFiles(run.data),
        lookups: weightPieceFiles(weights),
        mounts: { '/ort/': ORT_DIST },
        diskFiles: { '/ledger.jsonl': join(run.dir, LEDGER_FILE), '/dashboard': join(appDir, 'dashboard.html') },
        streams: { '/dashboard/events': dashboard.open },
        onSocket: traffic.trackHttpSocket,
        log,
        tls,
      }),
    );
    if (!tls) log(insecureContextNote(http.url));
    const { manifest } = weights.current();
    log(
      `seed ${node.peerId}: model ${JSON.stringify(run.model)}, ${manifest.value.totalBytes} bytes in ${manifest.value.pieces.length} pieces`,
    );
    return {
      url: http.url,
      peerId: node.peerId.toString(),
      node,
      coordinator,
      uploads: pieces.uploads,
      info: documents.info,
      status: documents.status,
      get weights() {
        return weights.current().weights;
      },
      get manifest() {
        return weights.current().manifest;
      },
      stop: () => parts.stop(),
    };
  } catch (e) {
    // Whatever started must stop: a half-started seed would keep its ports and timers.
    await parts.stop().catch((err: Error) => log(`stopping the half-started seed: ${err.message}`));
    throw e;
  }
}

/**
 * WebGPU is only for pages in a secure context: over http, only a browser on this machine that
 * opens the page at a loopback address gets it.
 */
function insecureContextNote(url: string): string {
  const port = new URL(url).port;
  return [
    'No TLS: the page is served over http and libp2p over ws. Browsers give WebGPU only to secure contexts:',
    `  a page from http://127.0.0.1:${port}/ or http://localhost:${port}/ (a browser on this machine) gets it,`,
    '  a page from any other http:// address does not. For volunteers on other machines, start the seed with',
    '  --tls-cert FILE --tls-key FILE (https and wss; see "Run a public swarm" in the README).',
  ].join('\n');
}

/**
 * Settings that every tab would refuse (src/tab/round-check.ts: a batch or a model past what a tab
 * trains) make a seed nobody can help: it stops at start, before a new run folder is written, and
 * says which setting, instead of publishing rounds that every tab turns down.
 */
function refuseUntrainableRounds(settings: FedSettings): (model: GptConfig) => void {
  return (model) => {
    const problem = roundShapeProblem(model, settings);
    if (problem) throw new Error(`every tab would refuse this run's rounds: ${problem}`);
  };
}
