// The dashboard's data (the page at /dashboard, src/dashboard/), in two parts that change at their
// own pace: `run`, when a round opens, closes or is checkpointed (the run's configuration, the
// validation loss and the swarm's tokens per second by round, the rounds' timeline, the top
// contributors), and `live`, every few seconds (volunteers, updates, bytes). dashboard-stream.ts
// sends them as events; each is read from its sources when built.
import type { FedSettings, HistoryEntry, RejectionKind } from '../fed';
import { type GptConfig, paramLayout } from '../model';
import { type Clock, systemClock } from '../util/clock';
import type { RunData } from './data';
import type { SeedStatus } from './documents';
import type { Contribution } from './ledger';
import type { RoundTimes } from './timeline';
import type { ReceivedBytes, SentBytes } from './traffic';

/** Rounds of validation loss the chart gets, the newest: some 60 KiB of JSON. */
export const DASHBOARD_HISTORY_ROUNDS = 1_000;
/** Volunteers listed as top contributors. */
export const DASHBOARD_TOP_CONTRIBUTORS = 10;

/** What the run was started with. */
export interface RunConfiguration {
  model: GptConfig;
  parameters: number;
  data: Pick<RunData, 'source' | 'sha256'>;
  settings: FedSettings;
}

/** The swarm's training speed over one round. */
export interface RoundThroughput {
  /** Rounds completed with it (as HistoryEntry.round: round r's point is at r + 1). */
  round: number;
  tokensPerSecond: number;
}

export interface DashboardRun {
  /** The seed's peer id. */
  seed: string;
  config: RunConfiguration;
  /** The global model's validation loss after each of the last DASHBOARD_HISTORY_ROUNDS rounds (0: the initial weights). */
  history: HistoryEntry[];
  /** Of the checkpointed rounds in `timeline`. */
  throughput: RoundThroughput[];
  timeline: RoundTimes[];
  contributors: Contribution[];
}

export interface DashboardLive {
  /** The seed's clock as this was built: the page counts down to the deadline from it, not from its own. */
  now: number;
  /** The open round, and its deadline. */
  round: number;
  deadline: number;
  /** Joined and connected; assigned in the open round; whose update the open round received. */
  volunteers: { online: number; assigned: number; reported: number };
  /** libp2p peers connected (tabs, Node volunteers, helpers). */
  peers: number;
  /** Accepted over the whole run; rejected since the seed started, by kind (header refusals included). */
  updates: { accepted: number; rejected: Record<RejectionKind, number> };
  /** Training tokens of every accepted update, over the whole run. */
  tokens: number;
  /** Every byte the seed received and sent since it started, by transport. */
  bytes: { received: ReceivedBytes; sent: Pick<SentBytes, 'http' | 'libp2p'> };
}

export interface DashboardSources {
  config: RunConfiguration;
  status(): SeedStatus;
  received(): ReceivedBytes;
  rounds(): RoundTimes[];
  topContributors(count: number): Contribution[];
  /** The seed's time (tests move a manual one). Default: the system's. */
  clock?: Clock;
}

export interface DashboardData {
  run(): DashboardRun;
  live(): DashboardLive;
}

/** The configuration a dashboard shows of a run: its model, its data and its federated settings. */
export function runConfiguration(
  run: { model: GptConfig; data: Pick<RunData, 'source' | 'sha256'> },
  settings: FedSettings,
): RunConfiguration {
  return {
    model: run.model,
    parameters: paramLayout(run.model).total,
    data: { source: run.data.source, sha256: run.data.sha256 },
    settings,
  };
}

export function dashboardData(s: DashboardSources): DashboardData {
  const clock = s.clock ?? systemClock;
  return {
    run() {
      const rounds = s.rounds();
      const status = s.status();
      return {
        seed: status.peerId,
        config: s.config,
        history: status.history.slice(-DASHBOARD_HISTORY_ROUNDS),
        throughput: swarmThroughput(rounds),
        timeline: rounds,
        contributors: s.topContributors(DASHBOARD_TOP_CONTRIBUTORS),
      };
    },
    live() {
      const status = s.status();
      return {
        now: clock.now(),
        round: status.round,
        deadline: status.open.deadline,
        volunteers: { online: status.volunteers, assigned: status.open.assigned, reported: status.open.received },
        peers: status.peers,
        updates: { accepted: status.acceptedUpdates, rejected: status.rejectedByKind },
        tokens: status.tokens,
        bytes: { received: s.received(), sent: { http: status.sentBytes.http, libp2p: status.sentBytes.libp2p } },
      };
    },
  };
}

/**
 * The swarm's tokens per second in each checkpointed round: the tokens credited for it over the time
 * from its (latest) opening to its checkpoint. Waiting for volunteers, verification and aggregation
 * count too: it is what the run gets per second of wall time while it trains.
 */
export function swarmThroughput(rounds: readonly RoundTimes[]): RoundThroughput[] {
  return rounds.flatMap(({ round, openedAt, checkpointedAt, tokens }) =>
    checkpointedAt === undefined || tokens === undefined || checkpointedAt <= openedAt
      ? []
      : [{ round: round + 1, tokensPerSecond: (tokens * 1000) / (checkpointedAt - openedAt) }],
  );
}
