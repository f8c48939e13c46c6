// The dashboard's charts: one series by round each (the validation loss, the swarm's tokens per
// second), drawn by uPlot (small, on a canvas, made for series like these). Colours are the page's
// CSS variables, read when a chart is made: a change of colour scheme makes it again, a change of
// its panel's width resizes it. Each chart's element says how many points it shows (data-points)
// and in which scheme (data-scheme), for tests.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const HEIGHT = 200;
/** Steps between the round axis's ticks: whole rounds only. */
const ROUND_TICK_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000];

export interface RoundPoint {
  /** Rounds completed (0: the initial weights). */
  round: number;
  value: number;
}

export interface RoundChartOptions {
  /** The series' name, in the legend. */
  label: string;
  /** The CSS variable holding the series' colour. */
  colorVar: string;
  /** A value as the axis and the legend write it. */
  format(value: number): string;
}

export interface RoundChart {
  show(points: readonly RoundPoint[]): void;
}

const darkScheme = matchMedia('(prefers-color-scheme: dark)');

export function roundChart(container: HTMLElement, opts: RoundChartOptions): RoundChart {
  let data: uPlot.AlignedData = [[], []];
  let plot: uPlot | undefined;
  const make = () => {
    plot?.destroy();
    const css = getComputedStyle(document.documentElement);
    const color = (name: string) => css.getPropertyValue(name).trim();
    const axis = {
      stroke: color('--muted'),
      grid: { stroke: color('--grid'), width: 1 },
      ticks: { stroke: color('--grid'), width: 1 },
    };
    const options: uPlot.Options = {
      width: container.clientWidth,
      height: HEIGHT,
      scales: { x: { time: false } },
      axes: [
        { ...axis, label: 'rounds completed', incrs: ROUND_TICK_STEPS },
        { ...axis, values: (_plot, ticks) => ticks.map(opts.format) },
      ],
      series: [
        { label: 'round' },
        {
          label: opts.label,
          stroke: color(opts.colorVar),
          width: 2,
          points: { show: true, size: 5 },
          value: (_plot, v) => (v === null ? '-' : opts.format(v)),
        },
      ],
    };
    plot = new uPlot(options, data, container);
    container.dataset.scheme = darkScheme.matches ? 'dark' : 'light';
  };
  make();
  darkScheme.addEventListener('change', make);
  new ResizeObserver(() => plot?.setSize({ width: container.clientWidth, height: HEIGHT })).observe(container);
  return {
    show(points) {
      data = [points.map((p) => p.round), points.map((p) => p.value)];
      plot?.setData(data);
      container.dataset.points = String(points.length);
    },
  };
}
