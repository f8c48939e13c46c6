// The volunteer page: the GPU this tab would use, and its place in the swarm (seed connection,
// peers, weight downloads). `window.vgpuState()` returns the same figures for tests and debugging.
import { acquireGpu } from '../gpu';
import { seedUrlFromLocation, startVolunteer, type VolunteerState } from './volunteer';
import { renderSwarm } from './swarm-view';

declare global {
  interface Window {
    vgpuState?: () => VolunteerState;
  }
}

async function showGpu(): Promise<void> {
  const status = document.querySelector<HTMLElement>('#gpu-status')!;
  const details = document.querySelector<HTMLElement>('#gpu-info')!;
  try {
    const gpu = await acquireGpu();
    const a = gpu.adapter;
    status.textContent = `Ready: ${a.description || a.architecture || a.vendor}${a.isFallbackAdapter ? ' (software fallback)' : ''}`;
    details.textContent = JSON.stringify({ features: a.features, limits: a.limits }, null, 2);
    gpu.destroy();
  } catch (e) {
    status.textContent = `This browser cannot contribute: ${(e as Error).message}`;
  }
}

void showGpu();
const root = document.querySelector<HTMLElement>('#swarm')!;
const volunteer = await startVolunteer({ seedUrl: seedUrlFromLocation(location), onChange: (s) => renderSwarm(root, s) });
window.vgpuState = () => structuredClone(volunteer.state);
renderSwarm(root, volunteer.state);
