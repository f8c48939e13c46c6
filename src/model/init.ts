import { INIT_STD } from '../util/model-constants';
import { createRandom } from '../util/random';
import { type ParamLayout, type TensorSpec, view } from './layout';

/**
 * GPT-2 initialisation, deterministic from `seed`: weights ~ N(0, 0.02²), the residual
 * projections (attn.proj.w, mlp.proj.w) scaled by 1/√(2·layers), biases 0, LayerNorm gains 1.
 * Weights draw in layout order, so a seed gives the same vector everywhere.
 */
export function initParams(layout: ParamLayout, seed: number): Float32Array {
  const flat = new Float32Array(layout.total);
  const next = createRandom(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const { layers, lnf } = layout.params;
  const gains = new Set<TensorSpec>([...layers.flatMap((l) => [l.ln1.g, l.ln2.g]), lnf.g]);
  const residual = new Set<TensorSpec>(layers.flatMap((l) => [l.attn.proj.w, l.mlp.proj.w]));
  const residualScale = 1 / Math.sqrt(2 * layout.config.layers);
  for (const t of layout.tensors) {
    const values = view(flat, t);
    if (gains.has(t)) values.fill(1);
    else if (t.decay) {
      const std = residual.has(t) ? INIT_STD * residualScale : INIT_STD;
      for (let i = 0; i < values.length; i++) values[i] = gaussian() * std;
    }
  }
  return flat;
}
