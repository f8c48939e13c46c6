import { createRandom } from '../util/random';
import { type ParamLayout, view } from './layout';

/** Standard deviation of GPT-2's weight init. */
export const INIT_STD = 0.02;

/**
 * GPT-2 initialisation, deterministic from `seed`: weights ~ N(0, 0.02²), the residual
 * projections (attn.proj.w, mlp.proj.w) scaled by 1/√(2·layers), biases 0, LayerNorm gains 1.
 */
export function initParams(layout: ParamLayout, seed: number): Float32Array {
  const flat = new Float32Array(layout.total);
  const next = createRandom(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const residualScale = 1 / Math.sqrt(2 * layout.config.layers);
  for (const t of layout.tensors) {
    const values = view(flat, t);
    if (t.name.endsWith('.g')) values.fill(1);
    else if (t.decay) {
      const std = t.name.endsWith('proj.w') ? INIT_STD * residualScale : INIT_STD;
      for (let i = 0; i < values.length; i++) values[i] = gaussian() * std;
    }
  }
  return flat;
}
