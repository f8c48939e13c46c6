// Renders the volunteer's page from its state (plain DOM, no framework). Every figure a test or a
// volunteer reads has a data-testid. The answers at a glance come from glance.ts.

import { ADAPTER_CLASSES, ADAPTER_POWER, type AdapterClass, creditsOf } from '../fed';
import { adapterClassInUse, clockTime, DUTY_CYCLES, type GlobalView, type GpuView, type TabState } from '../tab';
import { lossChart } from './chart';
import { el, facts } from './dom';
import {
  contributing,
  energyText,
  type Given,
  givenTodayAndTotal,
  gramsText,
  minutesText,
  percent,
  powerText,
  pressureAction,
  pressureText,
  receiptEnergy,
  responsivenessText,
  weightsLine,
} from './glance';

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

const $ = (id: string) => document.getElementById(id)!;

/** What the volunteer should know is wrong, and what they can do about it. */
export function failure(s: TabState): string | undefined {
  const t = s.training;
  if (s.gpu && !s.gpu.available) {
    return (
      'This browser has no WebGPU, so it can share weights but not train. WebGPU works in Chrome and Edge 113+ (Windows, macOS, ChromeOS), ' +
      'Chrome 121+ on Android, Safari 26+ and Firefox 141+ on Windows; on Linux, Chrome needs chrome://flags/#enable-unsafe-webgpu and Vulkan.'
    );
  }
  if (s.gpu?.tooSmall)
    return `This GPU is too small for the model (${s.gpu.tooSmall}). The tab still shares weights with others.`;
  if (s.phase === 'retrying') {
    const wait = Math.max(0, Math.ceil(((s.retryAt ?? 0) - Date.now()) / 1000));
    return `Cannot reach the seed (${s.error ?? 'no answer'}). Retrying in ${wait} s; check your connection, or the seed's address in ?seed=.`;
  }
  if (t.status === 'error' && /device lost/i.test(t.reason ?? ''))
    return `The GPU was reset (${t.reason}); recovering: the worker rebuilt its device and will retry.`;
  if (t.status === 'error') return `Training stopped: ${t.reason}.`;
  if (t.status === 'refused') return `Not training: ${t.reason}.`;
  const last = t.receipts.at(-1);
  if (last && !last.accepted)
    return `The seed did not credit your update for round ${last.round}: ${last.reason}. The next round starts fresh.`;
  return undefined;
}

function nowText(s: TabState): string {
  const t = s.training;
  if (!s.settings.running && t.status === 'off' && t.receipts.length === 0) return 'Not contributing yet: press Start.';
  // "Paused by you" and the like come before the hours and the grid (settings.ts's pauseReason).
  if (s.pausedBecause && s.pausedBecause !== s.awayBecause) return `Paused: ${s.pausedBecause}.`;
  if (s.awayBecause)
    return `Holding: ${s.awayBecause}. The seed was told; the tab joins the run again as soon as you allow.`;
  if (s.phase !== 'ready') return s.phase === 'downloading' ? 'Fetching the model weights…' : 'Connecting to the seed…';
  const eased = pressureAction(s);
  const step = (() => {
    switch (t.status) {
      case 'training':
        return `Training round ${t.round}: step ${t.step} of ${t.steps}`;
      case 'holding':
        return 'Holding before the next step';
      case 'fetching':
        return `Fetching the weights of round ${t.round}`;
      case 'sending':
        return `Sending the update of round ${t.round}`;
      case 'joining':
        return 'Joining the run…';
      case 'waiting':
        return t.reason ?? 'Waiting for the next round';
      case 'error':
      case 'refused':
        return 'Trouble: see above';
      default:
        return t.reason ?? 'Ready';
    }
  })();
  return eased ? `${step} — ${eased}` : step;
}

export function render(s: TabState): void {
  const t = s.training;
  const start = $('start') as HTMLButtonElement;
  start.textContent = s.settings.running ? 'Pause' : t.receipts.length ? 'Resume contributing' : 'Start contributing';
  start.className = s.settings.running ? 'secondary' : '';
  const answer = contributing(s);
  $('contributing').textContent = answer.headline;
  $('contributing').dataset.state = answer.state;
  $('now').textContent = nowText(s);
  const problem = failure(s);
  $('failure').hidden = !problem;
  $('failure').textContent = problem ?? '';

  // Each part is rebuilt only when what it shows changed: rebuilding the whole page at every step
  // made the browser restyle and lay it all out again, the page's main cost on its main thread.
  const { training: tr, global, gpu } = s;
  const pacing = [s.settings, s.pausedBecause, s.awayBecause, s.dutyCycleNow, s.pressure, s.gridIntensity];
  if (changed('glance', [tr, global, gpu, s.gpuTodayMs, s.responsiveness, ...pacing])) renderGlance(s);
  if (changed('activity', [tr, s.downloads, s.speed, s.dutyCycleNow])) renderActivity(s);
  if (changed('chart', [tr.losses, global])) renderChart(s);
  if (changed('contribution', [tr.receipts, tr.gpuMs, tr.flops, tr.lastUpdateBytes, tr.lastDeltaBytes]))
    renderContribution(s);
  renderSettings(s);
  if (changed('gpu', [gpu])) renderGpu(gpu);
  // The swarm's views are made afresh at every event: compared by value.
  const swarm = JSON.stringify([s.peers, s.uploads, s.phase, s.peerId, s.seedPage, s.seedUrl]);
  if (changed('swarm', [swarm, s.warnings])) renderSwarm(s);
}

/** What each part of the page was last built from. */
const builtFrom = new Map<string, unknown[]>();

/** Whether `inputs` differ from what `part` was last built from (by identity: the reducer never mutates). */
function changed(part: string, inputs: unknown[]): boolean {
  const last = builtFrom.get(part);
  if (last?.length === inputs.length && last.every((x, i) => x === inputs[i])) return false;
  builtFrom.set(part, inputs);
  return true;
}

/** What the volunteer gave, today and in total side by side; each cell's test id is `today-…` or `total-…`. */
function givenTable(today: Given, total: Given, adapter: AdapterClass): HTMLTableElement {
  const rows: [name: string, id: string, value: (g: Given) => string][] = [
    ['GPU time', 'gpu', (g) => minutesText(g.gpuMs)],
    ['Tokens', 'tokens', (g) => String(g.tokens)],
    ['Rounds credited', 'rounds', (g) => String(g.rounds)],
    ['Energy', 'energy', (g) => energyText(g.energy)],
    ['Credits', 'credits', (g) => g.credits.toFixed(2)],
  ];
  // Grams of CO₂ only where a receipt has them (a grid schedule and a region).
  if (total.gCO2 !== undefined)
    rows.push(['Emissions', 'co2', (g) => (g.gCO2 === undefined ? '-' : gramsText(g.gCO2))]);
  const table = el('table', undefined, { class: 'given' });
  const head = el('tr');
  head.append(el('th'), el('th', 'today'), el('th', 'in total'));
  table.append(head);
  for (const [name, id, value] of rows) {
    const row = el('tr');
    row.append(
      el('th', name, { scope: 'row' }),
      el('td', value(today), { 'data-testid': `today-${id}` }),
      el('td', value(total), { 'data-testid': `total-${id}` }),
    );
    table.append(row);
  }
  const note = el('caption', 'Energy: an estimate with its range; ');
  note.append(el('a', 'how it is made', { href: '#power-table', title: powerText(adapter) }));
  table.append(note);
  return table;
}

function renderGlance(s: TabState): void {
  const { today, total } = givenTodayAndTotal(s, Date.now());
  $('given').replaceChildren(givenTable(today, total, adapterClassInUse(s)));
  $('swarm-glance').replaceChildren(s.global ? swarmFacts(s.global) : el('p', 'Waiting for the seed…'));
  const t = s.training;
  const gpuNow = s.pausedBecause
    ? `resting: ${s.pausedBecause}`
    : t.status === 'training'
      ? `training round ${t.round} at ${percent(s.dutyCycleNow)} duty`
      : t.status === 'off'
        ? 'idle'
        : `idle (${t.status})`;
  const machine: [string, string, string][] = [
    ['GPU', gpuNow, 'gpu-now'],
    ['CPU pressure', pressureText(s), 'pressure'],
    ['This page', responsivenessText(s), 'responsiveness'],
  ];
  if (s.gridIntensity !== undefined)
    machine.push(['Grid now', `${Math.round(s.gridIntensity)} gCO₂/kWh in ${s.settings.gridRegion}`, 'grid-now']);
  $('machine').replaceChildren(facts(machine));
}

/** What the swarm achieved: the run's round, its validation loss since the start, its volunteers and work. */
function swarmFacts(g: GlobalView): HTMLDListElement {
  const first = g.history[0];
  const last = g.history.at(-1);
  const tokens = last?.tokens ?? 0;
  const wh = g.history.reduce((n, h) => n + (h.estimatedWh ?? 0), 0);
  return facts([
    ['Round', String(g.round), 'round'],
    [
      'Validation loss',
      last
        ? `${last.valLoss.toFixed(4)} after ${tokens} tokens${first && first !== last ? ` (from ${first.valLoss.toFixed(4)})` : ''}`
        : '-',
      'val-loss',
    ],
    ['Volunteers', String(g.volunteers), 'volunteers'],
    ['Updates accepted', String(g.acceptedUpdates)],
    ...(wh > 0 ? [['Energy (estimate)', `${wh.toFixed(2)} Wh`, 'swarm-energy'] as [string, string, string]] : []),
  ]);
}

function renderActivity(s: TabState): void {
  const t = s.training;
  const activity: HTMLElement[] = [el('p', t.status, { 'data-testid': 'training-status' })];
  const weights = weightsLine(s);
  if (weights) activity.push(facts([['Weights', weights, 'weights']]));
  for (const d of s.downloads.filter((x) => !x.done))
    activity.push(
      el('progress', undefined, { max: String(d.total), value: String(d.held), 'aria-label': `weights ${d.name}` }),
    );
  if (t.status === 'training' && t.steps)
    activity.push(
      el('progress', undefined, { max: String(t.steps), value: String(t.step ?? 0), 'aria-label': 'training steps' }),
    );
  if (s.speed) {
    activity.push(
      facts([
        ['Speed', `${s.speed.tokensPerS.toFixed(0)} tokens/s · ${s.speed.gflops.toFixed(2)} GFLOPS`, 'speed'],
        ['GPU duty (measured)', `${percent(s.speed.dutyMeasured)} of ${percent(s.dutyCycleNow)} allowed`, 'duty'],
      ]),
    );
  }
  $('activity').replaceChildren(...activity);
}

function renderChart(s: TabState): void {
  const t = s.training;
  // x is the round (local steps spread within their round), so both series share the axis.
  const rounds = Math.max(1, ...t.losses.map((l) => l.round + 1), ...(s.global?.history.map((h) => h.round) ?? [0]));
  const steps = Math.max(1, ...t.losses.map((l) => l.step));
  $('chart').replaceChildren(
    lossChart(
      [
        {
          name: 'your training loss',
          color: '#1f6feb',
          points: t.losses.map((l) => ({ x: (l.round + l.step / steps) / rounds, y: l.loss })),
        },
        {
          name: 'global validation loss',
          color: '#cf222e',
          points: (s.global?.history ?? []).map((h) => ({ x: h.round / rounds, y: h.valLoss })),
        },
      ],
      'loss over rounds',
    ),
  );
}

function renderContribution(s: TabState): void {
  const t = s.training;
  const contribution: HTMLElement[] = [
    facts([
      ['Rounds credited', `${t.acceptedRounds} of ${t.receipts.length}`, 'receipts'],
      ['Tokens trained', String(t.tokens), 'tokens'],
      ['GPU time', minutesText(t.gpuMs), 'gpu-time'],
      ['Credits', `${creditsOf(t.flops).toFixed(2)} (1 per GFLOP of verified training)`, 'credits'],
      ...(t.lastUpdateBytes
        ? [['Last update', `${mib(t.lastUpdateBytes)} (dense fp32 ${mib(t.lastDenseBytes ?? 0)})`] as [string, string]]
        : []),
      ...(t.lastDeltaBytes
        ? [['Last weights', `rebuilt from a ${mib(t.lastDeltaBytes)} round delta`] as [string, string]]
        : []),
    ]),
  ];
  const list = el('ul', undefined, { 'aria-label': 'receipts' });
  for (const r of t.receipts.slice(-5).reverse()) {
    const energy = receiptEnergy(r);
    const impact = [
      r.flops === undefined ? '' : `, ${creditsOf(r.flops).toFixed(2)} credits`,
      r.gpuSeconds === undefined ? '' : ` · GPU ${r.gpuSeconds.toFixed(1)} s`,
      energy ? ` · ${energyText(energy)}` : '',
      r.gCO2 === undefined ? '' : ` · ${gramsText(r.gCO2)}`,
    ].join('');
    list.append(
      el(
        'li',
        `round ${r.round}: ${r.accepted ? 'credited' : `not credited (${r.reason})`}, ${r.tokens} tokens${impact}`,
        {
          class: r.accepted ? 'ok' : 'bad',
          'data-round': String(r.round),
          ...(r.adapter ? { title: powerText(r.adapter) } : {}),
        },
      ),
    );
  }
  contribution.push(list, el('button', 'Export signed receipts', { id: 'export', type: 'button', class: 'secondary' }));
  $('contribution').replaceChildren(...contribution);
}

/** The power table behind every energy figure (fed/impact.ts), written once: it does not change. */
export function renderPowerTable(): void {
  const table = el('table');
  table.append(el('tr'));
  table.rows[0]!.append(el('th', 'adapter class'), el('th', 'power while busy'), el('th', 'source'));
  for (const c of ADAPTER_CLASSES) {
    const p = ADAPTER_POWER[c];
    const row = el('tr', undefined, { 'data-class': c });
    row.append(el('td', c), el('td', `${p.watts} W (${p.low}–${p.high} W)`), el('td', p.source));
    table.append(row);
  }
  $('power-table').append(
    el(
      'p',
      "Energy = the GPU-busy time this tab measured (the seed caps it at the round's length) × the power of your adapter's class. " +
        "These are vendors' figures, not a measurement of your machine: the range says how far off the estimate may be. " +
        "Grams of CO₂ use the run's grid schedule for the region you chose, at the hour of the update.",
    ),
    table,
  );
}

/** The settings form is built once and then only kept in sync (so focus and input survive renders). */
function renderSettings(s: TabState): void {
  const form = $('settings') as HTMLFormElement;
  if (!form.elements.namedItem('dutyCycle')) buildSettings(form);
  const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement;
  const regions = s.grid?.regions ?? [];
  const regionSelect = field('gridRegion') as unknown as HTMLSelectElement;
  if (regionSelect.dataset.regions !== regions.join(',')) {
    regionSelect.dataset.regions = regions.join(',');
    regionSelect.replaceChildren(
      el('option', 'choose…', { value: '' }),
      ...regions.map((r) => el('option', r, { value: r })),
    );
  }
  // Without a schedule the run offers no grid option.
  $('grid-settings').hidden = !s.grid;
  $('grid-source').textContent = s.grid ? `The run's schedule: ${s.grid.source}.` : '';
  const detected = field('adapterClass').querySelector('option[value="detected"]')!;
  detected.textContent = `as detected (${s.gpu?.adapterClass ?? 'unknown'})`;
  if (document.activeElement?.closest('form') !== form) {
    field('dutyCycle').value = String(s.settings.dutyCycle);
    field('pauseWhenHidden').checked = s.settings.pauseWhenHidden;
    field('pauseOnBattery').checked = s.settings.pauseOnBattery;
    field('dailyBudgetMinutes').value = String(s.settings.dailyBudgetMinutes);
    field('onlyHours').checked = s.settings.onlyHours;
    field('hoursFrom').value = clockTime(s.settings.hoursFrom);
    field('hoursTo').value = clockTime(s.settings.hoursTo);
    field('gridRegion').value = s.settings.gridRegion;
    field('gridLimit').value = String(s.settings.gridLimit);
    field('adapterClass').value = s.settings.adapterClass;
  }
}

function buildSettings(form: HTMLFormElement): void {
  const labelled = (text: string, ...controls: (HTMLElement | string)[]) => {
    const l = el('label', text);
    l.append(...controls);
    return l;
  };
  const check = (name: string, text: string) => {
    const l = el('label');
    l.append(el('input', undefined, { type: 'checkbox', name }), ` ${text}`);
    return l;
  };
  const fieldset = (legend: string, attrs: Record<string, string>, ...children: HTMLElement[]) => {
    const f = el('fieldset', undefined, attrs);
    f.append(el('legend', legend), ...children);
    return f;
  };
  const duty = el('select', undefined, { name: 'dutyCycle', id: 'duty' });
  for (const d of DUTY_CYCLES) duty.append(el('option', percent(d), { value: String(d) }));
  const hours = check('onlyHours', 'Only between ');
  hours.append(
    el('input', undefined, { type: 'time', name: 'hoursFrom', 'aria-label': 'from' }),
    ' and ',
    el('input', undefined, { type: 'time', name: 'hoursTo', 'aria-label': 'to' }),
    ' (local time)',
  );
  const adapter = el('select', undefined, { name: 'adapterClass', id: 'adapter-class' });
  adapter.append(el('option', 'as detected', { value: 'detected' }));
  for (const c of ADAPTER_CLASSES) adapter.append(el('option', `${c} (${ADAPTER_POWER[c].watts} W)`, { value: c }));
  form.append(
    labelled('GPU duty cycle: ', duty),
    check('pauseWhenHidden', 'Pause while this tab is hidden'),
    check('pauseOnBattery', 'Pause on battery'),
    labelled(
      'Daily GPU budget (minutes, 0 = none): ',
      el('input', undefined, { type: 'number', name: 'dailyBudgetMinutes', min: '0', max: '1440', step: '5' }),
    ),
    fieldset(
      'Hours',
      {},
      hours,
      el('p', 'Outside them the tab leaves the run (the seed assigns it nothing) and joins again when they begin.', {
        class: 'hint',
      }),
    ),
    fieldset(
      'Cleaner grid',
      { id: 'grid-settings', hidden: '' },
      labelled('Your grid region: ', el('select', undefined, { name: 'gridRegion', id: 'grid-region' })),
      labelled(
        'Only while the grid is below ',
        el('input', undefined, {
          type: 'number',
          name: 'gridLimit',
          id: 'grid-limit',
          min: '0',
          max: '2000',
          step: '10',
        }),
        ' gCO₂/kWh (0: whatever the grid)',
      ),
      el('p', '', { id: 'grid-source', class: 'hint' }),
    ),
    labelled("Your GPU's class, for the energy estimate: ", adapter),
  );
}

/** The GPU section (rebuilt only when the adapter changes, so its details stay open). */
function renderGpu(gpu: GpuView | undefined): void {
  if (!gpu?.available) {
    $('gpu').replaceChildren(el('p', gpu ? 'No WebGPU adapter.' : 'Checking WebGPU…'));
    return;
  }
  // The features a volunteer may care about, then the whole list on request.
  const notable = ['shader-f16', 'subgroups', 'timestamp-query']
    .map((f) => `${f} ${gpu.features.includes(f) ? '✓' : '✗'}`)
    .join(' · ');
  const features = el('details');
  features.append(el('summary', `${gpu.features.length} features: ${notable}`), el('p', gpu.features.join(', ')));
  const limits = el('details');
  limits.append(el('summary', 'Limits'), facts(Object.entries(gpu.limits).map(([k, v]) => [k, String(v)])));
  $('gpu').replaceChildren(
    facts([
      ['Adapter', gpu.description ?? '-', 'adapter'],
      ['Class', gpu.adapterClass, 'adapter-class-detected'],
    ]),
    features,
    limits,
  );
}

function renderSwarm(s: TabState): void {
  const peers = el('ul', undefined, { 'data-testid': 'peers', 'aria-label': 'peers' });
  for (const p of s.peers)
    peers.append(
      el(
        'li',
        `…${p.id.slice(-8)}: ${p.kind === 'seed' ? 'seed (WebSocket)' : p.kind === 'direct' ? 'direct (WebRTC)' : 'relayed'}`,
      ),
    );
  const warningsOpen = $('swarm').querySelector('details')?.open ?? false;
  const children: HTMLElement[] = [
    el(
      'p',
      `${s.phase === 'retrying' ? 'Reconnecting' : s.peerId ? 'Connected' : 'Connecting'} to ${s.seedPage ?? s.seedUrl}${s.peerId ? ` as …${s.peerId.slice(-8)}` : ''}`,
      { 'data-testid': 'swarm-phase' },
    ),
    el('p', `Peers (${s.peers.length})`),
    peers,
    el('p', `Served to other tabs: ${mib(s.uploads.uploadedBytes)} (${s.uploads.piecesServed} pieces)`),
  ];
  if (s.warnings.length) {
    const warnings = el('details');
    warnings.open = warningsOpen;
    const list = el('ul');
    for (const w of s.warnings.slice(-8)) list.append(el('li', w));
    warnings.append(el('summary', `Warnings (${s.warnings.length})`), list);
    children.push(warnings);
  }
  $('swarm').replaceChildren(...children);
}
