// The volunteer page: starts the tab (src/tab: swarm, training, settings), renders its state, and
// turns clicks and form changes into calls on it.
// `window.vgpuState()` returns the same figures for tests and debugging.

import {
  DEFAULT_SETTINGS,
  parseSettings,
  type Settings,
  seedUrlFromLocation,
  startVolunteer,
  type TabState,
} from '../tab';
import { setupTryModel } from './try-model';
import { render, renderPowerTable } from './view';

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
renderPowerTable();
render(volunteer.state);
// The retry countdown and other clocks move without state changes.
setInterval(() => scheduleRender(volunteer.state), 1000);

document
  .getElementById('start')!
  .addEventListener('click', () => void volunteer.setRunning(!volunteer.state.settings.running));

/** A settings field's value in the settings' own terms: a time of day as minutes after midnight. */
function fieldValue(input: HTMLInputElement | HTMLSelectElement): unknown {
  if (input instanceof HTMLInputElement && input.type === 'checkbox') return input.checked;
  if (input instanceof HTMLInputElement && input.type === 'time') return input.valueAsNumber / 60_000;
  return typeof DEFAULT_SETTINGS[input.name as keyof Settings] === 'number' ? Number(input.value) : input.value;
}

document.getElementById('settings')!.addEventListener('change', (e) => {
  const input = e.target as HTMLInputElement | HTMLSelectElement;
  const name = input.name as keyof Settings;
  const value = fieldValue(input);
  // Only a valid value is taken: parseSettings would put the default in its place.
  if (parseSettings({ ...volunteer.state.settings, [name]: value })[name] !== value) return;
  void volunteer.updateSettings({ [name]: value });
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
