// Renders the volunteer's page from its state (plain DOM, no framework). Every figure a test or a
// volunteer reads has a data-testid.

import { creditsOf } from '../fed';
import { DUTY_CYCLES, type TabState } from '../tab';
import { lossChart } from './chart';
import { el, facts } from './dom';

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
  if (s.pausedBecause) return `Paused: ${s.pausedBecause}.`;
  if (s.phase !== 'ready') return s.phase === 'downloading' ? 'Fetching the model weights…' : 'Connecting to the seed…';
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
}

export function render(s: TabState): void {
  const t = s.training;
  const start = $('start') as HTMLButtonElement;
  start.textContent = s.settings.running ? 'Pause' : t.receipts.length ? 'Resume contributing' : 'Start contributing';
  start.className = s.settings.running ? 'secondary' : '';
  $('now').textContent = nowText(s);
  const problem = failure(s);
  $('failure').hidden = !problem;
  $('failure').textContent = problem ?? '';

  const activity: HTMLElement[] = [el('p', t.status, { 'data-testid': 'training-status' })];
  for (const d of s.downloads) {
    activity.push(
      el('p', `Weights ${d.name}: ${d.held}/${d.total} pieces of ${mib(d.totalBytes)}${d.done ? ' ✓ verified' : ''}`),
      el('progress', undefined, { max: String(d.total), value: String(d.held), 'aria-label': `weights ${d.name}` }),
    );
  }
  if (t.status === 'training' && t.steps)
    activity.push(
      el('progress', undefined, { max: String(t.steps), value: String(t.step ?? 0), 'aria-label': 'training steps' }),
    );
  if (s.speed) {
    activity.push(
      facts([
        ['Speed', `${s.speed.tokensPerS.toFixed(0)} tokens/s · ${s.speed.gflops.toFixed(2)} GFLOPS`, 'speed'],
        [
          'GPU duty (measured)',
          `${(100 * s.speed.dutyMeasured).toFixed(0)}% of ${(100 * s.settings.dutyCycle).toFixed(0)}% allowed`,
          'duty',
        ],
      ]),
    );
  }
  $('activity').replaceChildren(...activity);

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

  const g = s.global;
  const lastLoss = g?.history.at(-1);
  $('run').replaceChildren(
    g
      ? facts([
          ['Round', String(g.round), 'round'],
          [
            'Validation loss',
            lastLoss ? `${lastLoss.valLoss.toFixed(4)} after ${lastLoss.tokens} tokens` : '-',
            'val-loss',
          ],
          ['Volunteers', String(g.volunteers), 'volunteers'],
          ['Updates accepted', String(g.acceptedUpdates)],
        ])
      : el('p', 'Waiting for the seed…'),
  );

  const credits = creditsOf(t.flops);
  const contribution: HTMLElement[] = [
    facts([
      ['Rounds credited', `${t.acceptedRounds} of ${t.receipts.length}`, 'receipts'],
      ['Tokens trained', String(t.tokens), 'tokens'],
      ['GPU time', `${(t.gpuMs / 60_000).toFixed(1)} min`, 'gpu-time'],
      ['Credits', `${credits.toFixed(2)} (1 per GFLOP of verified training)`, 'credits'],
      ...(t.lastUpdateBytes
        ? [['Last update', `${mib(t.lastUpdateBytes)} (dense fp32 ${mib(t.lastDenseBytes ?? 0)})`] as [string, string]]
        : []),
      ...(t.lastDeltaBytes
        ? [['Last weights', `rebuilt from a ${mib(t.lastDeltaBytes)} round delta`] as [string, string]]
        : []),
    ]),
  ];
  const list = el('ul', undefined, { 'aria-label': 'receipts' });
  for (const r of t.receipts.slice(-5).reverse())
    list.append(
      el('li', `round ${r.round}: ${r.accepted ? 'credited' : `not credited (${r.reason})`}, ${r.tokens} tokens`, {
        class: r.accepted ? 'ok' : 'bad',
      }),
    );
  contribution.push(list, el('button', 'Export signed receipts', { id: 'export', type: 'button', class: 'secondary' }));
  $('contribution').replaceChildren(...contribution);

  renderSettings(s);

  const gpu = s.gpu;
  $('gpu').replaceChildren(
    ...(gpu?.available
      ? [
          facts([
            ['Adapter', gpu.description ?? '-', 'adapter'],
            ['Features', gpu.features.join(', ') || 'none'],
          ]),
          el('details', undefined, {}),
        ]
      : [el('p', gpu ? 'No WebGPU adapter.' : 'Checking WebGPU…')]),
  );
  const details = $('gpu').querySelector('details');
  if (details && gpu)
    details.append(el('summary', 'Limits'), facts(Object.entries(gpu.limits).map(([k, v]) => [k, String(v)])));

  const peers = el('ul', undefined, { 'data-testid': 'peers', 'aria-label': 'peers' });
  for (const p of s.peers)
    peers.append(
      el(
        'li',
        `…${p.id.slice(-8)}: ${p.kind === 'seed' ? 'seed (WebSocket)' : p.kind === 'direct' ? 'direct (WebRTC)' : 'relayed'}`,
      ),
    );
  $('swarm').replaceChildren(
    el(
      'p',
      `${s.phase === 'retrying' ? 'Reconnecting' : s.peerId ? 'Connected' : 'Connecting'} to ${s.seedPage ?? s.seedUrl}${s.peerId ? ` as …${s.peerId.slice(-8)}` : ''}`,
      { 'data-testid': 'swarm-phase' },
    ),
    el('p', `Peers (${s.peers.length})`),
    peers,
    el('p', `Served to other tabs: ${mib(s.uploads.uploadedBytes)} (${s.uploads.piecesServed} pieces)`),
    ...(s.warnings.length ? [el('details', undefined)] : []),
  );
  const warn = $('swarm').querySelector('details');
  if (warn) {
    const wl = el('ul');
    for (const w of s.warnings.slice(-8)) wl.append(el('li', w));
    warn.append(el('summary', `Warnings (${s.warnings.length})`), wl);
  }
}

/** The settings form is built once and then only kept in sync (so focus and input survive renders). */
function renderSettings(s: TabState): void {
  const form = $('settings') as HTMLFormElement;
  if (!form.elements.namedItem('dutyCycle')) {
    const duty = el('select', undefined, { name: 'dutyCycle', id: 'duty' });
    for (const d of DUTY_CYCLES) duty.append(el('option', `${d * 100}%`, { value: String(d) }));
    const label = el('label', 'GPU duty cycle: ');
    label.append(duty);
    const check = (name: string, text: string) => {
      const l = el('label');
      l.append(el('input', undefined, { type: 'checkbox', name }), ` ${text}`);
      return l;
    };
    const budget = el('label', 'Daily GPU budget (minutes, 0 = none): ');
    budget.append(
      el('input', undefined, { type: 'number', name: 'dailyBudgetMinutes', min: '0', max: '1440', step: '5' }),
    );
    form.append(
      label,
      check('pauseWhenHidden', 'Pause while this tab is hidden'),
      check('pauseOnBattery', 'Pause on battery'),
      budget,
    );
  }
  const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement;
  if (document.activeElement?.closest('form') !== form) {
    field('dutyCycle').value = String(s.settings.dutyCycle);
    field('pauseWhenHidden').checked = s.settings.pauseWhenHidden;
    field('pauseOnBattery').checked = s.settings.pauseOnBattery;
    field('dailyBudgetMinutes').value = String(s.settings.dailyBudgetMinutes);
  }
}
