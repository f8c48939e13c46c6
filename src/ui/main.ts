// The volunteer page: starts the tab (src/tab: swarm, training, settings), renders its state, and
// turns clicks and form changes into calls on it.
// `window.vgpuState()` returns the same figures for tests and debugging.

import { seedUrlFromLocation, startVolunteer, type TabState } from '../tab';
import { setupTryModel } from './try-model';
import { render } from './view';

declare global {
  interface Window {
    vgpuState?: () => TabState;
  }
}

let frame = 0;
const scheduleRender = (s: TabState) => {
  if (!frame)
    frame = requestAnimationFrame(() => {
      frame = 0;
      render(s);
    });
};

const volunteer = await startVolunteer({ seedUrl: seedUrlFromLocation(location), onChange: scheduleRender });
window.vgpuState = () => structuredClone(volunteer.state);
render(volunteer.state);
// The retry countdown and other clocks move without state changes.
setInterval(() => scheduleRender(volunteer.state), 1000);

document
  .getElementById('start')!
  .addEventListener('click', () => void volunteer.setRunning(!volunteer.state.settings.running));

document.getElementById('settings')!.addEventListener('change', (e) => {
  const input = e.target as HTMLInputElement;
  const value = input.type === 'checkbox' ? input.checked : Number(input.value);
  if (input.name === 'dailyBudgetMinutes' && !(Number.isInteger(value) && (value as number) >= 0)) return;
  void volunteer.updateSettings({ [input.name]: value });
});

document.getElementById('contribution')!.addEventListener('click', async (e) => {
  if ((e.target as HTMLElement).id !== 'export') return;
  const file = await volunteer.creditsFile();
  const url = URL.createObjectURL(new Blob([JSON.stringify(file, null, 2)], { type: 'application/json' }));
  const a = Object.assign(document.createElement('a'), {
    href: url,
    download: `vgpu-receipts-${file.volunteer.slice(-8)}.json`,
  });
  a.click();
  URL.revokeObjectURL(url);
});

setupTryModel(document.getElementById('try')!, volunteer);
