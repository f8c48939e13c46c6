// The seed's /metrics, in Prometheus's text format (prom-client): rounds, volunteers, updates accepted
// and rejected by kind, tokens, validation loss, aggregation time, bytes in and out, pieces served,
// peers and relay reservations, and the process's memory and CPU. Each value is read from the seed
// when scraped (nothing is kept twice); each seed has a registry of its own (tests run several seeds
// in one process). Public, like /status.json: it holds no secret.
import { Counter, Gauge, Registry } from 'prom-client';
import { REJECTION_KINDS } from '../fed';
import type { SeedStatus } from './documents';
import type { ReceivedBytes, SentBytes } from './traffic';

export interface SeedMetricsSource {
  status(): SeedStatus;
  sent(): SentBytes;
  received(): ReceivedBytes;
}

export interface SeedMetrics {
  contentType: string;
  /** The metrics now, as Prometheus scrapes them. */
  render(): Promise<string>;
}

export function seedMetrics(source: SeedMetricsSource): SeedMetrics {
  const registry = new Registry();
  /** One status per scrape, shared by every metric's collect. */
  let scraped: SeedStatus | undefined;
  const status = () => {
    scraped ??= source.status();
    return scraped;
  };
  const gauge = (name: string, help: string, value: (s: SeedStatus) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value(status()));
      },
    });
  const counter = (name: string, help: string, value: (s: SeedStatus) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(value(status()));
      },
    });
  const byTransport = (name: string, help: string, value: () => { http: number; libp2p: number }) =>
    new Counter({
      name,
      help,
      labelNames: ['transport'],
      registers: [registry],
      collect() {
        const v = value();
        this.reset();
        this.labels('http').inc(v.http);
        this.labels('libp2p').inc(v.libp2p);
      },
    });

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
  new Counter({
    name: 'vgpu_updates_rejected_total',
    help: 'Updates rejected since the seed started, by kind: malformed, invalid, late, refused, unverified',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const s = status();
      this.reset();
      for (const kind of REJECTION_KINDS) this.labels(kind).inc(s.rejectedByKind[kind]);
    },
  });
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
  byTransport('vgpu_sent_bytes_total', 'Bytes the seed sent, by transport', () => source.sent());
  byTransport('vgpu_received_bytes_total', 'Bytes the seed received, by transport', () => source.received());
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
