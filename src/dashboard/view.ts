// Renders the dashboard from the seed's two events (src/seed/dashboard.ts): `run` (charts, rounds,
// contributors, configuration) and `live` (volunteers, updates, traffic), and the state of the
// connection. Plain DOM; every figure a test reads has a data-testid.
import type { RejectionKind } from '../fed';
import type { DashboardLive, DashboardRun, RunConfiguration } from '../seed/dashboard';
import type { RoundTimes } from '../seed/timeline';
import { el, facts } from '../ui/dom';
import { type RoundChart, roundChart } from './charts';

/** Rounds the timeline table lists, the newest first: a screenful. */
const TIMELINE_ROWS = 12;

/** What each kind of rejection means (src/fed/coordinator.ts's REJECTION_KINDS). */
const REJECTION_MEANINGS: Record<RejectionKind, string> = {
  malformed: 'Malformed (undecodable)',
  invalid: 'Invalid (shape, norm, NaN)',
  late: 'Late (round closed)',
  refused: 'Refused (not assigned, wrong weights or size)',
  unverified: 'Failed verification',
};

/** The page's connection to the seed's event stream. */
export type Connection =
  | { state: 'live' }
  | { state: 'reconnecting' }
  /** Closed (the seed down, or serving as many dashboards as it allows): tried again at `retryAt`. */
  | { state: 'offline'; retryAt: number };

export interface DashboardView {
  run(run: DashboardRun): void;
  live(live: DashboardLive): void;
  connection(connection: Connection): void;
  /** Moves the clocks on (the deadline's countdown, the retry's). */
  tick(): void;
}

const $ = (id: string) => document.getElementById(id)!;
const count = (n: number) => n.toLocaleString('en');
const shortPeer = (peer: string) => `…${peer.slice(-8)}`;
const clockTime = (ms: number) => new Date(ms).toLocaleTimeString('en-GB');

/** `ms` as m:ss. */
function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export function createDashboardView(): DashboardView {
  const charts: { loss: RoundChart; speed: RoundChart } = {
    loss: roundChart($('loss-chart'), {
      label: 'validation loss',
      colorVar: '--loss',
      format: (v) => v.toFixed(2),
    }),
    speed: roundChart($('speed-chart'), {
      label: 'tokens/s',
      colorVar: '--speed',
      format: (v) => count(Math.round(v)),
    }),
  };
  let connection: Connection = { state: 'reconnecting' };
  /** The last live event, and when it came (on this page's clock). */
  let latest: { live: DashboardLive; at: number } | undefined;

  const renderConnection = () => {
    const line = $('connection');
    line.classList.toggle('offline', connection.state !== 'live');
    if (connection.state === 'offline')
      line.textContent = `Not connected: the seed is down, or serving as many dashboards as it allows. Trying again in ${duration(connection.retryAt - Date.now())}.`;
    else if (connection.state === 'reconnecting') line.textContent = 'Connecting to the seed…';
    else line.textContent = `Live${latest ? `: updated ${clockTime(latest.live.now)}` : ''}`;
  };

  /** The open round's deadline, counted down on the seed's clock (moved on by this page's since the last event). */
  const deadline = () => {
    if (!latest) return '-';
    const left = latest.live.deadline - (latest.live.now + (Date.now() - latest.at));
    return left > 0 ? `in ${duration(left)}` : 'passed; closing';
  };

  const renderLive = (live: DashboardLive) => {
    $('now').replaceChildren(
      facts([
        ['Round', String(live.round), 'round'],
        ['Deadline', deadline(), 'deadline'],
        ['Volunteers online', count(live.volunteers.online), 'volunteers-online'],
        [
          'Assigned this round',
          `${count(live.volunteers.assigned)} (${count(live.volunteers.reported)} reported)`,
          'volunteers-assigned',
        ],
        ['Peers connected', count(live.peers), 'peers'],
        ['Tokens trained', count(live.tokens), 'tokens'],
      ]),
    );
    const rejected = Object.entries(live.updates.rejected) as [RejectionKind, number][];
    $('updates').replaceChildren(
      facts([
        ['Accepted (whole run)', count(live.updates.accepted), 'updates-accepted'],
        ['Rejected (since the seed started)', count(rejected.reduce((n, [, k]) => n + k, 0)), 'updates-rejected'],
        ...rejected.map(([kind, n]): [string, string, string] => [
          REJECTION_MEANINGS[kind],
          count(n),
          `rejected-${kind}`,
        ]),
      ]),
    );
    $('traffic').replaceChildren(trafficTable(live.bytes));
  };

  return {
    run(run) {
      charts.loss.show(run.history.map((h) => ({ round: h.round, value: h.valLoss })));
      charts.speed.show(run.throughput.map((t) => ({ round: t.round, value: t.tokensPerSecond })));
      $('timeline').replaceChildren(timelineTable(run.timeline));
      $('contributors').replaceChildren(contributorList(run));
      $('config').replaceChildren(configuration(run.seed, run.config));
    },
    live(live) {
      latest = { live, at: Date.now() };
      renderLive(live);
      renderConnection();
    },
    connection(next) {
      connection = next;
      renderConnection();
    },
    tick() {
      const shown = document.querySelector('[data-testid=deadline]');
      if (shown) shown.textContent = deadline();
      renderConnection();
    },
  };
}

interface Row {
  cells: HTMLElement[];
  attrs?: Record<string, string>;
}

/** A table with a header row, in a box that scrolls sideways when the screen is narrower. */
function table(headers: string[], rows: Row[]): HTMLElement {
  const t = el('table');
  const head = el('tr');
  head.append(...headers.map((h) => el('th', h)));
  t.append(head);
  for (const { cells, attrs } of rows) {
    const tr = el('tr', undefined, attrs);
    tr.append(...cells);
    t.append(tr);
  }
  const scroll = el('div', undefined, { class: 'scroll' });
  scroll.append(t);
  return scroll;
}

/** Bytes in and out by transport, and in all. */
function trafficTable({ received, sent }: DashboardLive['bytes']): HTMLElement {
  return table(
    ['Transport', 'In', 'Out'],
    [
      { cells: [el('td', 'HTTP'), el('td', bytes(received.http)), el('td', bytes(sent.http))] },
      { cells: [el('td', 'libp2p'), el('td', bytes(received.libp2p)), el('td', bytes(sent.libp2p))] },
      {
        cells: [
          el('td', 'Total'),
          el('td', bytes(received.http + received.libp2p), { 'data-testid': 'bytes-in' }),
          el('td', bytes(sent.http + sent.libp2p), { 'data-testid': 'bytes-out' }),
        ],
      },
    ],
  );
}

/** The newest rounds, one row each: when each opened, and how long after that came its deadline, close and checkpoint. */
function timelineTable(rounds: readonly RoundTimes[]): HTMLElement {
  if (rounds.length === 0) return el('p', 'No round has opened yet.', { class: 'empty' });
  const after = (r: RoundTimes, at: number | undefined, otherwise: string) =>
    at === undefined ? otherwise : `+${duration(at - r.openedAt)}`;
  return table(
    ['Round', 'Opened', 'Deadline', 'Closed', 'Checkpointed', 'Assigned', 'Tokens'],
    rounds
      .slice(-TIMELINE_ROWS)
      .reverse()
      .map((r) => ({
        attrs: { 'data-testid': 'timeline-row', 'data-round': String(r.round) },
        cells: [
          el('td', r.issues > 1 ? `${r.round} (issued ${r.issues}×)` : String(r.round)),
          el('td', clockTime(r.openedAt)),
          el('td', after(r, r.deadline, '-')),
          el('td', after(r, r.closedAt, 'open'), { 'data-testid': 'closed' }),
          el('td', after(r, r.checkpointedAt, '-'), { 'data-testid': 'checkpointed' }),
          el('td', count(r.assigned)),
          el('td', r.tokens === undefined ? '-' : count(r.tokens)),
        ],
      })),
  );
}

function contributorList(run: DashboardRun): HTMLElement {
  if (run.contributors.length === 0) return el('p', 'No verified contribution yet.', { class: 'empty' });
  const list = el('ol');
  for (const c of run.contributors) {
    const item = el('li', undefined, { 'data-testid': 'contributor', 'data-peer': c.peer });
    item.append(
      el('code', shortPeer(c.peer), { title: c.peer }),
      `: ${count(c.tokens)} tokens in ${count(c.rounds)} round${c.rounds === 1 ? '' : 's'}`,
    );
    list.append(item);
  }
  return list;
}

function configuration(seed: string, { model, parameters, data, settings }: RunConfiguration): HTMLElement {
  const h = settings.hyper;
  const codec = (c: typeof settings.codec) =>
    `${c.format}, blocks of ${c.blockSize}${c.density < 1 ? `, ${c.density * 100}% of blocks` : ''}`;
  const outer = settings.outer;
  const part = el('div');
  part.append(
    facts([
      ['Seed', seed, 'config-seed'],
      [
        'Model',
        `${model.layers} layers, width ${model.width}, ${model.heads} heads, context ${model.context}, vocabulary ${count(model.vocab)}: ${count(parameters)} parameters`,
        'config-model',
      ],
      [
        'Data',
        `${data.source.kind === 'brown' ? 'the Brown corpus' : data.source.path} (training tokens' sha256 ${data.sha256.train.slice(0, 12)}…)`,
        'config-data',
      ],
      [
        'A round',
        `${h.steps} local steps of ${h.batchSize} × ${h.context} tokens, lr ${h.lr}, weight decay ${h.weightDecay}; ${settings.roundMs / 1000} s at most; ${settings.shardCount} shards`,
        'config-round',
      ],
      ['Updates', codec(settings.codec)],
      ['Round deltas', settings.deltaCodec ? codec(settings.deltaCodec) : 'none: whole weights'],
      ['Aggregation', settings.aggregation],
      ['Outer step', `lr ${outer.lr}, momentum ${outer.momentum}${outer.nesterov ? ', Nesterov' : ''}`],
      ['Verification', `up to ${settings.reexecutionsPerRound} re-executions a round`],
    ]),
  );
  const all = el('details');
  all.append(el('summary', 'Every setting'), el('pre', JSON.stringify(settings, null, 2)));
  part.append(all);
  return part;
}
