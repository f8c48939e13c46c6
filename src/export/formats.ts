import { view } from '../model';
import { exportGptOnnx } from '../onnx';
import type { RunWeights } from './run';
import { encodeSafetensors } from './safetensors';

export const EXPORT_FORMATS = ['onnx', 'safetensors'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * The weights as a file of `format`:
 * - onnx: the whole model (exportGptOnnx), input `tokens` int64 [1, T], output `logits` float32
 *   [1, T, vocab], T symbolic up to the context;
 * - safetensors: every tensor of the layout under its own name (`h0.attn.qkv.w`…), float32, without
 *   the layout's padding; the metadata holds the model's config (run.json's `model`), the layout
 *   version and the round.
 */
export function encodeWeights(weights: RunWeights, format: ExportFormat): Uint8Array {
  const { layout, params } = weights;
  if (format === 'onnx') return exportGptOnnx(layout, params, 'dynamic');
  return encodeSafetensors(
    layout.tensors.map((t) => ({ name: t.name, shape: t.shape, data: view(params, t) })),
    { config: JSON.stringify(layout.config), layout_version: String(layout.version), round: String(weights.round) },
  );
}
