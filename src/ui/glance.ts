// What the volunteer's page answers at a glance (issue 19): am I contributing, what did I give today
// and in total, what did the swarm achieve, what is my machine doing right now. Pure (no DOM): the
// texts and sums come from the tab's state, and the unit tests check them in Node; view.ts places them.
import { ADAPTER_POWER, type AdapterClass, creditsOf, type EnergyEstimate, estimateEnergy } from '../fed';
import { type ReceiptView, type TabState, today } from '../tab';

/** What a volunteer gave: the tab's measured GPU time, and from the seed's receipts the rest. */
export interface Given {
  gpuMs: number;
  /** Credited rounds, tokens and credits (verified GFLOP). */
  rounds: number;
  tokens: number;
  credits: number;
  /** The receipts' energy estimate and its range (fed/impact.ts), where their headers gave a busy time. */
  energy: EnergyEstimate;
  /** Grams of CO₂ of the receipts that have them (a grid schedule and a region); undefined when none does. */
  gCO2?: number;
}

/** The energy of one credited round, with its range: the seed's figure, the range from the same power table. */
export function receiptEnergy(r: ReceiptView): EnergyEstimate | undefined {
  if (r.gpuSeconds === undefined || r.adapter === undefined) return undefined;
  const range = estimateEnergy(r.gpuSeconds, r.adapter);
  return { ...range, wh: r.estimatedWh ?? range.wh };
}

/** The sums of the credited receipts among `receipts`, with `gpuMs` of measured GPU time. */
export function given(receipts: ReceiptView[], gpuMs: number): Given {
  const credited = receipts.filter((r) => r.accepted);
  const energy = { wh: 0, lowWh: 0, highWh: 0 };
  let gCO2: number | undefined;
  for (const r of credited) {
    const e = receiptEnergy(r);
    if (e) for (const k of ['wh', 'lowWh', 'highWh'] as const) energy[k] += e[k];
    if (r.gCO2 !== undefined) gCO2 = (gCO2 ?? 0) + r.gCO2;
  }
  return {
    gpuMs,
    rounds: credited.length,
    tokens: credited.reduce((n, r) => n + r.tokens, 0),
    credits: creditsOf(credited.reduce((n, r) => n + (r.flops ?? 0), 0)),
    energy,
    gCO2,
  };
}

/** What the volunteer gave today (their local day) and in total. */
export function givenTodayAndTotal(s: TabState, now: number): { today: Given; total: Given } {
  const day = today(new Date(now));
  const todays = s.training.receipts.filter((r) => r.at !== undefined && today(new Date(r.at)) === day);
  return { today: given(todays, s.gpuTodayMs), total: given(s.training.receipts, s.training.gpuMs) };
}

const figure = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toPrecision(2));

/** "0.12 Wh (0.05–0.43)": the estimate and its range. */
export const energyText = (e: EnergyEstimate): string =>
  e.highWh === 0 ? '0 Wh' : `${figure(e.wh)} Wh (${figure(e.lowWh)}–${figure(e.highWh)})`;

export const minutesText = (ms: number): string =>
  ms < 60_000 ? `${(ms / 1000).toFixed(0)} s` : `${(ms / 60_000).toFixed(1)} min`;

export const gramsText = (g: number): string => `${figure(g)} gCO₂`;

/** The power figure behind an estimate, for its tooltip. */
export function powerText(adapter: AdapterClass): string {
  const p = ADAPTER_POWER[adapter];
  return `estimate for a ${adapter} adapter: ${p.watts} W while busy (range ${p.low}–${p.high} W); ${p.source}`;
}

/** The answer to "am I contributing?": a word the page colours, and a sentence. */
export interface Contributing {
  state: 'yes' | 'holding' | 'paused' | 'no' | 'trouble';
  headline: string;
}

export function contributing(s: TabState): Contributing {
  const t = s.training;
  if (s.gpu && (!s.gpu.available || s.gpu.tooSmall))
    return { state: 'no', headline: 'Not contributing: this browser cannot train here' };
  if (!s.settings.running) return { state: 'no', headline: 'Not contributing' };
  if (t.status === 'error' || t.status === 'refused')
    return { state: 'trouble', headline: 'Not contributing: trouble' };
  if (s.awayBecause !== undefined && s.pausedBecause === s.awayBecause)
    return { state: 'holding', headline: 'Holding: out of the run for now' };
  if (s.pausedBecause) return { state: 'paused', headline: 'Paused' };
  return { state: 'yes', headline: s.dutyCycleNow < s.settings.dutyCycle ? 'Contributing, eased off' : 'Contributing' };
}

/** What the pacing does about the machine's pressure, and why; undefined when nothing. */
export function pressureAction(s: TabState): string | undefined {
  if (s.pressure === 'critical' && s.settings.running)
    return 'paused: the CPU is under critical pressure; training resumes when it eases';
  if (s.dutyCycleNow < s.settings.dutyCycle)
    return `GPU duty lowered from ${percent(s.settings.dutyCycle)} to ${percent(s.dutyCycleNow)}: the CPU is under serious pressure`;
  return undefined;
}

/** The CPU pressure as the page shows it. */
export function pressureText(s: TabState): string {
  if (s.pressure === 'unsupported')
    return 'not reported by this browser (the Compute Pressure API is in Chrome and Edge 125+): the tab cannot ease off by itself when the machine is busy, so choose a duty cycle that suits you';
  if (s.pressure === undefined) return 'waiting for the first report';
  return pressureAction(s) ? `${s.pressure}: ${pressureAction(s)}` : s.pressure;
}

export const percent = (x: number): string => `${Math.round(100 * x)}%`;

/** The weights line: the round being fetched while it is, else the weights held. */
export function weightsLine(s: TabState): string | undefined {
  const t = s.training;
  if (t.status === 'fetching') return `fetching the weights of round ${t.round} from the seed and other tabs…`;
  const busy = s.downloads.find((d) => !d.done);
  if (busy) return `${busy.name}: ${busy.held}/${busy.total} pieces`;
  if (t.weightsRound !== undefined)
    return `round ${t.weightsRound} ✓ verified${t.lastDeltaBytes ? ' (rebuilt from its delta)' : ''}`;
  const held = s.downloads.at(-1);
  return held && `${held.name} ✓ verified`;
}

/** The page's own effect on the machine while training, in one line. */
export function responsivenessText(s: TabState): string {
  const r = s.responsiveness;
  if (!r || r.measuredMs === 0) return 'measured while training';
  const tasks = r.longTasksObserved
    ? r.longTasks === 0
      ? 'no long tasks'
      : `${r.longTasks} long task${r.longTasks === 1 ? '' : 's'} (longest ${r.longestTaskMs.toFixed(0)} ms)`
    : 'long tasks not reported by this browser';
  const frames = r.frames === 0 ? 'no frames drawn (hidden tab)' : `${r.droppedFrames} of ${r.frames} frames dropped`;
  return `${tasks}, ${frames} in ${minutesText(r.measuredMs)} of training`;
}
