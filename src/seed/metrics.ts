// /metrics in Prometheus's text format (prom-client), on the seed and on a helper seed. The seed's:
// rounds, volunteers, updates accepted and rejected by kind, tokens, validation loss, aggregation
// time, bytes in and out, pieces served, peers and relay reservations. A helper's: the round it
// follows, its volunteers, updates taken and refused by kind, partials sent, bytes, relay
// reservations. Both: the process's memory and CPU. Each value is read from its source when scraped
// (nothing is kept twice); each has a registry of its own (tests run several seeds in one process).
// Public, like /status.json: it holds no secret.
import { Counter, Gauge, Registry } from 'prom-client';
import { HELPER_REJECTION_KINDS, REJECTION_KINDS } from '../fed';
import type { HelperStatus } from '../helper';
import type { SeedStatus } from './documents';
import type { MemoryFile } from './http';
import type { ReceivedBytes, SentBytes } from './traffic';

export interface Metrics {
  contentType: string;
  /** The metrics now, as Prometheus scrapes them. */
  render(): Promise<string>;
}

/** Bytes in and out by transport: what both kinds of seed count. */
export interface TrafficSource {
  sent(): SentBytes;
  received(): ReceivedBytes;
}

export interface SeedMetricsSource extends TrafficSource {
  status(): SeedStatus;
}

export interface HelperMetricsSource extends TrafficSource {
  status(): HelperStatus;
}

/** The metrics as an HTTP document, made per request. */
export function metricsDocument(metrics: Metrics): () => Promise<MemoryFile> {
  return async () => ({ body: Buffer.from(await metrics.render()), type: metrics.contentType });
}

/** Declares metrics whose values come from one reading of the source per scrape. */
interface MetricsOf<S> {
  gauge(name: string, help: string, value: (s: S) => number): void;
  counter(name: string, help: string, value: (s: S) => number): void;
  /** A counter by one label, each label value's count from `values`. */
  labelled(name: string, help: string, label: string, values: (s: S) => Record<string, number>): void;
}

/**
 * A registry with the metrics `declare` makes, read from `source.status()` once per scrape, and those
 * both kinds of seed have: bytes in and out by transport (`who` sent them), the process's memory and CPU.
 */
function metricsOf<S>(
  source: TrafficSource & { status(): S },
  who: string,
  declare: (m: MetricsOf<S>) => void,
): Metrics {
  const registry = new Registry();
  /** One reading per scrape, shared by every metric's collect. */
  let scraped: S | undefined;
  const status = () => {
    scraped ??= source.status();
    return scraped;
  };
  const metrics: MetricsOf<S> = {
    gauge: (name, help, value) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(value(status()));
        },
      }),
    counter: (name, help, value) =>
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(value(status()));
        },
      }),
    labelled: (name, help, label, values) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers: [registry],
        collect() {
          this.reset();
          for (const [key, n] of Object.entries(values(status()))) this.labels(key).inc(n);
        },
      }),
  };
  declare(metrics);
  const byTransport = (b: { http: number; libp2p: number }) => ({ http: b.http, libp2p: b.libp2p });
  metrics.labelled(`vgpu_sent_bytes_total`, `Bytes the ${who} sent, by transport`, 'transport', () =>
    byTransport(source.sent()),
  );
  metrics.labelled(`vgpu_received_bytes_total`, `Bytes the ${who} received, by transport`, 'transport', () =>
    byTransport(source.received()),
  );
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes',
    registers: [registry],
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'User and system CPU time spent in seconds',
    registers: [registry],
    collect() {
      const { user, system } = process.cpuUsage();
      this.reset();
      this.inc((user + system) / 1e6);
    },
  });
  return {
    contentType: registry.contentType,
    async render() {
      scraped = undefined;
      try {
        return await registry.metrics();
      } finally {
        scraped = undefined;
      }
    },
  };
}

export function seedMetrics(source: SeedMetricsSource): Metrics {
  return metricsOf(source, 'seed', ({ gauge, counter, labelled }) => {
    gauge('vgpu_round', 'Rounds completed: the open round is this one', (s) => s.round);
    counter('vgpu_rounds_aggregated_total', 'Rounds aggregated since the seed started', (s) => s.aggregation.rounds);
    counter(
      'vgpu_aggregation_seconds_total',
      'Time spent aggregating rounds (the robust rule and the outer step) since the seed started',
      (s) => s.aggregation.seconds,
    );
    gauge('vgpu_aggregation_last_seconds', "The last round's aggregation time", (s) => s.aggregation.lastSeconds);
    gauge('vgpu_volunteers', 'Volunteers that joined and are connected', (s) => s.volunteers);
    gauge('vgpu_round_assigned', 'Volunteers assigned in the open round', (s) => s.open.assigned);
    gauge('vgpu_round_received', 'Updates received in the open round', (s) => s.open.received);
    counter(
      'vgpu_updates_accepted_total',
      'Updates verified and aggregated, over the whole run',
      (s) => s.acceptedUpdates,
    );
    labelled(
      'vgpu_updates_rejected_total',
      `Updates rejected since the seed started, by kind: ${REJECTION_KINDS.join(', ')}`,
      'kind',
      (s) => s.rejectedByKind,
    );
    counter('vgpu_tokens_total', 'Training tokens of all accepted updates, over the whole run', (s) => s.tokens);
    gauge(
      'vgpu_validation_loss',
      "The global model's validation loss after the last round",
      (s) => s.history.at(-1)?.valLoss ?? Number.NaN,
    );
    gauge('vgpu_peers', 'Peers connected (tabs and volunteers)', (s) => s.peers);
    gauge('vgpu_relay_reservations', 'Circuit relay reservations held by tabs', (s) => s.relayReservations);
    counter('vgpu_pieces_served_total', 'Weight pieces the seed uploaded', (s) => s.piecesServed);
    counter(
      'vgpu_piece_requests_refused_total',
      'Piece requests refused (busy, referred, malformed)',
      (s) => s.refusedRequests,
    );
  });
}

export function helperMetrics(source: HelperMetricsSource): Metrics {
  return metricsOf(source, 'helper', ({ gauge, counter, labelled }) => {
    gauge('vgpu_helper_round', "The root's round this helper follows", (s) => s.round);
    gauge('vgpu_helper_welcomed', 'Whether the root has welcomed this helper (1) or not yet (0)', (s) =>
      Number(s.welcomed),
    );
    gauge('vgpu_volunteers', 'Volunteers that joined through this helper and are connected', (s) => s.volunteers);
    gauge('vgpu_round_assigned', 'Volunteers of this helper assigned in the open round', (s) => s.assigned);
    gauge('vgpu_round_received', 'Updates taken into the open round', (s) => s.received);
    counter('vgpu_updates_taken_total', 'Updates decoded, checked and folded into a partial', (s) => s.updatesTaken);
    labelled(
      'vgpu_updates_rejected_total',
      `Updates this helper refused since it started, by kind: ${HELPER_REJECTION_KINDS.join(', ')}`,
      'kind',
      (s) => s.rejectedByKind,
    );
    counter('vgpu_partials_sent_total', 'Partial aggregates sent to the root', (s) => s.partialsSent);
    counter(
      'vgpu_partials_rejected_total',
      'Partial aggregates the root refused, or that did not reach it',
      (s) => s.partialsFailed,
    );
    gauge('vgpu_peers', 'Peers connected (volunteers, and the root)', (s) => s.peers);
    gauge(
      'vgpu_relay_reservations',
      "Circuit relay reservations held by this helper's tabs",
      (s) => s.relayReservations,
    );
  });
}
