// "Try the model": the global weights exported as ONNX and run with onnxruntime-web.
import type { Volunteer } from './volunteer';

export function setupTryModel(root: HTMLElement, _volunteer: Volunteer): void {
  root.textContent = 'Coming with the ONNX export.';
}
