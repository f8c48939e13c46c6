// The seed's dashboard page (/dashboard): the run as the seed's event stream tells it
// (/dashboard/events, src/seed/dashboard-stream.ts), rendered as each event comes, never reloaded.
// EventSource reconnects by itself after a dropped connection; when the seed refuses the stream (it
// serves a limited number of dashboards) or is down, the stream is closed, and the page tries again
// RETRY_MS later.
import type { DashboardLive, DashboardRun } from '../seed/dashboard';
import type { DashboardEvent } from '../seed/dashboard-stream';
import { createDashboardView } from './view';

/** How long the page waits to try again after the seed refused its stream or was down. */
const RETRY_MS = 15_000;

const view = createDashboardView();

function connect(): void {
  const events = new EventSource('/dashboard/events');
  const on = (event: DashboardEvent, show: (data: string) => void) =>
    events.addEventListener(event, (e) => show(e.data));
  on('run', (data) => view.run(JSON.parse(data) as DashboardRun));
  on('live', (data) => view.live(JSON.parse(data) as DashboardLive));
  events.addEventListener('open', () => view.connection({ state: 'live' }));
  events.addEventListener('error', () => {
    if (events.readyState !== EventSource.CLOSED) return view.connection({ state: 'reconnecting' });
    view.connection({ state: 'offline', retryAt: Date.now() + RETRY_MS });
    setTimeout(connect, RETRY_MS);
  });
}

connect();
// The countdowns move between events.
setInterval(() => view.tick(), 1000);
