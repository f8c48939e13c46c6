// A small SVG line chart: the tab's local training loss per step and the run's validation loss per
// round, on one loss axis. Plain SVG so the page stays light.
const NS = 'http://www.w3.org/2000/svg';
const W = 320;
const H = 160;
const PAD = 28;

export interface Series {
  name: string;
  color: string;
  /** x in [0, 1] across the chart, y the loss. */
  points: { x: number; y: number }[];
}

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

export function lossChart(series: Series[], label: string): SVGSVGElement {
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, width: '100%' });
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).filter(Number.isFinite);
  if (ys.length === 0) {
    root.append(Object.assign(svg('text', { x: PAD, y: H / 2 }), { textContent: 'No losses yet' }));
    return root;
  }
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  const span = hi - lo || 1;
  const sx = (x: number) => PAD + x * (W - PAD - 8);
  const sy = (y: number) => 8 + (1 - (y - lo) / span) * (H - PAD - 8);
  root.append(svg('line', { x1: PAD, y1: H - PAD, x2: W - 8, y2: H - PAD, stroke: '#d0d7de' }));
  root.append(Object.assign(svg('text', { x: 2, y: sy(hi) + 4 }), { textContent: hi.toFixed(2) }));
  root.append(Object.assign(svg('text', { x: 2, y: sy(lo) + 4 }), { textContent: lo.toFixed(2) }));
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join('');
    root.append(
      svg('path', {
        d,
        fill: 'none',
        stroke: s.color,
        'stroke-width': 1.5,
        'data-series': s.name,
        'data-points': s.points.length,
      }),
    );
    root.append(
      Object.assign(svg('text', { x: PAD + i * 130, y: H - 8, fill: s.color }), { textContent: `— ${s.name}` }),
    );
  });
  return root;
}
