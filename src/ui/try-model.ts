// The "try the model" panel: a prompt, the continuation, and a link to the ONNX file.
import { tryModel, type Volunteer } from '../tab';

export function setupTryModel(root: HTMLElement, volunteer: Volunteer): void {
  const form = document.createElement('form');
  const input = Object.assign(document.createElement('input'), {
    name: 'prompt',
    value: 'The jury said',
    'aria-label': 'prompt',
  });
  const button = Object.assign(document.createElement('button'), { type: 'submit', textContent: 'Continue the text' });
  const out = Object.assign(document.createElement('pre'), { textContent: '' });
  out.dataset.testid = 'generated';
  const link = document.createElement('a');
  form.append(input, ' ', button);
  root.replaceChildren(
    Object.assign(document.createElement('p'), {
      textContent:
        'Runs the current global model in this page: exported to ONNX, executed by onnxruntime-web. Early rounds produce gibberish.',
    }),
    form,
    out,
    link,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    button.disabled = true;
    out.textContent = 'Exporting and running…';
    try {
      const r = await tryModel(volunteer.client, input.value, volunteer.state.seedUrl);
      out.textContent = `${r.text}\n\n(${r.provider}, ONNX model ${(r.onnxBytes / 2 ** 20).toFixed(2)} MiB)`;
      link.href = URL.createObjectURL(
        new Blob([r.onnx as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }),
      );
      link.download = 'vgpu-gpt.onnx';
      link.textContent = 'Download the ONNX model';
    } catch (err) {
      out.textContent = `Could not run the model: ${(err as Error).message}`;
    } finally {
      button.disabled = false;
    }
  });
}
