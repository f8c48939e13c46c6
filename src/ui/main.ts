// The volunteer page. For now it reports whether this browser can contribute: the GPU it would use.
import { acquireGpu } from '../gpu';

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
