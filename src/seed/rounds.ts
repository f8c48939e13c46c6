// The seed's federated rounds: the coordinator wired to the run folder (state, checkpoints, data, the
// update spool), the weights publisher, the validation loss and the round gossip; and the update
// service, the protocol through which volunteers join and send their updates.
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import {
  type Coordinator,
  createCoordinator,
  type FedSettings,
  MAX_UPDATE_STREAMS_PER_CONNECTION,
  ROUND_TOPIC,
  UPDATE_PROTOCOL,
  type UpdateServerOptions,
  updateServer,
} from '../fed';
import { type SeedNode, utf8 } from '../swarm';
import type { Clock } from '../util/clock';
import { throttledLog } from '../util/log';
import type { RunFolder } from './run-folder';
import { openFileSpool } from './spool';
import type { RoundTimeline } from './timeline';
import { validationLoss } from './validation';
import { startVerifier } from './verifier';
import type { WeightsPublisher } from './weights';

export interface RoundCoordinatorComponents {
  run: Pick<RunFolder, 'dir' | 'key' | 'model' | 'data' | 'state' | 'saveCheckpoint' | 'ledger'>;
  weights: Pick<WeightsPublisher, 'publish'>;
  /** Where each new round is announced (gossip). */
  pubsub: Pick<SeedNode['services']['pubsub'], 'publish'>;
  /** Whether a volunteer is still connected (a closed tab is not assigned again). */
  isConnected(peer: string): boolean;
  /** The IP address a volunteer connects from. */
  addressOf(peer: string): string | undefined;
  settings: FedSettings;
  log(line: string): void;
  clock?: Clock;
  /** An update behind a helper's partial, from that helper (helpers.ts). */
  fetchSample?(helper: string, round: number, peer: string): Promise<Uint8Array>;
  /** The run's grid intensity by region and time (grid.ts), for receipts' gCO₂; none without a schedule. */
  gridIntensity?(region: string, at: number): number | undefined;
  /** Where each round's opening, close and checkpoint are recorded (the dashboard's timeline). */
  timeline: RoundTimeline;
}

export async function createRoundCoordinator(c: RoundCoordinatorComponents): Promise<Coordinator> {
  const evaluate = validationLoss(c.run.model, c.run.data.dataset, c.settings.hyper.context);
  const verifier = startVerifier({ model: c.run.model, dataset: c.run.data.dataset });
  const coordinator = createCoordinator(
    {
      key: c.run.key,
      peerId: peerIdFromPrivateKey(c.run.key),
      data: c.run.data.sha256,
      publishWeights: (params, name, extras) => c.weights.publish(params, name, extras),
      publishRound: (signed, round) => {
        c.timeline.opened(round);
        // Tabs also poll /round.json: a lost gossip message only delays them.
        void c.pubsub.publish(ROUND_TOPIC, utf8(JSON.stringify(signed))).catch(() => {});
      },
      isConnected: c.isConnected,
      addressOf: c.addressOf,
      evaluate: async (params) => evaluate(params),
      // Verifying its updates is the first thing a round's close does (after fetching the samples
      // behind helpers' partials): the round took no update after.
      verify: (job) => {
        c.timeline.closed(job.manifest.round);
        return verifier.verify(job);
      },
      persist: async (state) => {
        await c.run.saveCheckpoint(state);
        const [before, after] = state.history.slice(-2);
        c.timeline.checkpointed(state.round - 1, (after?.tokens ?? 0) - (before?.tokens ?? 0));
      },
      issueReceipts: (entries) => c.run.ledger.issue(entries),
      ledgerRoot: () => c.run.ledger.root(),
      recentReceipts: (peer, since) => c.run.ledger.recent(peer, since),
      log: c.log,
      clock: c.clock,
      spool: await openFileSpool(c.run.dir),
      fetchSample: c.fetchSample,
      gridIntensity: c.gridIntensity,
    },
    c.settings,
    c.run.state,
  );
  return {
    ...coordinator,
    // A verification in progress ends with the thread, so the close it belongs to ends at once.
    stop: async () => {
      await verifier.stop();
      await coordinator.stop();
    },
  };
}

export interface UpdateServiceComponents {
  node: Pick<SeedNode, 'handle' | 'unhandle'>;
  /** The coordinator, or a helper seed's stand-in for its root's (src/helper). */
  coordinator: Pick<UpdateServerOptions, 'onJoin' | 'onLeave' | 'admit' | 'onUpdate'> & {
    receipts: UpdateServerOptions['onReceipts'];
  };
  log(line: string): void;
  clock?: Clock;
}

/** A peer's refused update requests make one log line a minute at most. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/** Serves the update protocol: joins and updates go to the coordinator. */
export async function startUpdateService(c: UpdateServiceComponents): Promise<{ stop(): Promise<void> }> {
  const logRefusal = throttledLog(c.log, REFUSAL_LOG_INTERVAL_MS, c.clock);
  await c.node.handle(
    UPDATE_PROTOCOL,
    updateServer({
      onJoin: (peer) => c.coordinator.onJoin(peer),
      onLeave: (peer) => c.coordinator.onLeave(peer),
      admit: (peer, header) => c.coordinator.admit(peer, header),
      onUpdate: (peer, header, body) => c.coordinator.onUpdate(peer, header, body),
      onReceipts: (peer, since) => c.coordinator.receipts(peer, since),
      onError: (peer, message) => logRefusal(peer, `refused an update request from ${peer}: ${message}`),
      clock: c.clock,
    }),
    { maxInboundStreams: MAX_UPDATE_STREAMS_PER_CONNECTION, maxOutboundStreams: MAX_UPDATE_STREAMS_PER_CONNECTION },
  );
  return { stop: () => c.node.unhandle(UPDATE_PROTOCOL) };
}
