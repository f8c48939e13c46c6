// /metrics alone, the seed's and a helper's: a status and traffic counts given by the test, rendered in Prometheus's
// text format, each value read again at each scrape.
import { expect, test } from '@playwright/test';
import type { HelperStatus } from '../../src/helper';
import type { SeedStatus } from '../../src/seed/documents';
import { helperMetrics, seedMetrics } from '../../src/seed/metrics';

function status(over: Partial<SeedStatus> = {}): SeedStatus {
  return {
    round: 7,
    volunteers: 3,
    acceptedUpdates: 40,
    rejectedUpdates: 5,
    rejectedByKind: { malformed: 1, invalid: 2, late: 0, refused: 1, unverified: 1 },
    aggregation: { rounds: 6, seconds: 1.5, lastSeconds: 0.25 },
    tokens: 12_288,
    history: [
      { round: 0, tokens: 0, valLoss: 7 },
      { round: 7, tokens: 12_288, valLoss: 5.5 },
    ],
    open: { round: 7, deadline: 0, assigned: 4, received: 2 },
    peerId: 'seed',
    peers: 5,
    relayReservations: 4,
    uploadedBytes: 1,
    piecesServed: 9,
    refusedRequests: 11,
    sentBytes: { http: 100, libp2p: 200, libp2pStreams: {} },
    manifest: { id: 'm', name: 'n', totalBytes: 1, pieces: 1 },
    ...over,
  };
}

/** The samples of a rendering: `name{labels}` -> value. */
function samples(text: string): Map<string, number> {
  return new Map(
    text
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => {
        const at = line.lastIndexOf(' ');
        return [line.slice(0, at), Number(line.slice(at + 1))];
      }),
  );
}

test("every figure of the seed's status and traffic, with its type, read at each scrape", async () => {
  let current = status();
  let received = { http: 30, libp2p: 4_000 };
  const metrics = seedMetrics({
    status: () => current,
    sent: () => ({ http: 100, libp2p: 200, libp2pStreams: {} }),
    received: () => received,
  });
  expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await metrics.render();
  expect(text).toContain('# TYPE vgpu_updates_rejected_total counter');
  expect(text).toContain('# TYPE vgpu_round gauge');
  const s = samples(text);
  expect(Object.fromEntries([...s].filter(([k]) => k.startsWith('vgpu_')))).toEqual({
    vgpu_round: 7,
    vgpu_rounds_aggregated_total: 6,
    vgpu_aggregation_seconds_total: 1.5,
    vgpu_aggregation_last_seconds: 0.25,
    vgpu_volunteers: 3,
    vgpu_round_assigned: 4,
    vgpu_round_received: 2,
    vgpu_updates_accepted_total: 40,
    'vgpu_updates_rejected_total{kind="malformed"}': 1,
    'vgpu_updates_rejected_total{kind="invalid"}': 2,
    'vgpu_updates_rejected_total{kind="late"}': 0,
    'vgpu_updates_rejected_total{kind="refused"}': 1,
    'vgpu_updates_rejected_total{kind="unverified"}': 1,
    vgpu_tokens_total: 12_288,
    vgpu_validation_loss: 5.5,
    vgpu_peers: 5,
    vgpu_relay_reservations: 4,
    vgpu_pieces_served_total: 9,
    vgpu_piece_requests_refused_total: 11,
    'vgpu_sent_bytes_total{transport="http"}': 100,
    'vgpu_sent_bytes_total{transport="libp2p"}': 200,
    'vgpu_received_bytes_total{transport="http"}': 30,
    'vgpu_received_bytes_total{transport="libp2p"}': 4_000,
  });
  expect(s.get('process_resident_memory_bytes')).toBeGreaterThan(0);
  expect(s.get('process_cpu_seconds_total')).toBeGreaterThan(0);

  // The next scrape reads the seed again.
  current = status({ round: 8, rejectedByKind: { malformed: 3, invalid: 2, late: 1, refused: 1, unverified: 1 } });
  received = { http: 60, libp2p: 9_000 };
  const next = samples(await metrics.render());
  expect(next.get('vgpu_round')).toBe(8);
  expect(next.get('vgpu_updates_rejected_total{kind="malformed"}')).toBe(3);
  expect(next.get('vgpu_received_bytes_total{transport="libp2p"}')).toBe(9_000);
});

test('two seeds in one process keep metrics of their own', async () => {
  const a = seedMetrics({
    status: () => status({ round: 1 }),
    sent: () => status().sentBytes,
    received: () => ({ http: 0, libp2p: 0 }),
  });
  const b = seedMetrics({
    status: () => status({ round: 2 }),
    sent: () => status().sentBytes,
    received: () => ({ http: 0, libp2p: 0 }),
  });
  expect(samples(await a.render()).get('vgpu_round')).toBe(1);
  expect(samples(await b.render()).get('vgpu_round')).toBe(2);
});

test("a helper's metrics: the round it follows, its volunteers, updates taken and refused by kind, partials", async () => {
  const helper: HelperStatus = {
    peerId: 'helper',
    root: 'root',
    welcomed: true,
    round: 3,
    volunteers: 12,
    assigned: 10,
    received: 8,
    partialSent: false,
    partialsSent: 3,
    partialsFailed: 1,
    updatesTaken: 25,
    rejectedByKind: { malformed: 1, invalid: 0, late: 2, refused: 4 },
    peers: 13,
    relayReservations: 6,
  };
  const metrics = helperMetrics({
    status: () => helper,
    sent: () => ({ http: 10, libp2p: 20, libp2pStreams: {} }),
    received: () => ({ http: 30, libp2p: 40 }),
  });
  const s = samples(await metrics.render());
  expect(Object.fromEntries([...s].filter(([k]) => k.startsWith('vgpu_')))).toEqual({
    vgpu_helper_round: 3,
    vgpu_helper_welcomed: 1,
    vgpu_volunteers: 12,
    vgpu_round_assigned: 10,
    vgpu_round_received: 8,
    vgpu_updates_taken_total: 25,
    'vgpu_updates_rejected_total{kind="malformed"}': 1,
    'vgpu_updates_rejected_total{kind="invalid"}': 0,
    'vgpu_updates_rejected_total{kind="late"}': 2,
    'vgpu_updates_rejected_total{kind="refused"}': 4,
    vgpu_partials_sent_total: 3,
    vgpu_partials_rejected_total: 1,
    vgpu_peers: 13,
    vgpu_relay_reservations: 6,
    'vgpu_sent_bytes_total{transport="http"}': 10,
    'vgpu_sent_bytes_total{transport="libp2p"}': 20,
    'vgpu_received_bytes_total{transport="http"}': 30,
    'vgpu_received_bytes_total{transport="libp2p"}': 40,
  });
});
