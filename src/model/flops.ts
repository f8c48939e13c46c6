import { type ParamLayout, parameterCount } from './layout';

/**
 * Nominal FLOPs of `tokens` tokens of training (forward and backward) on sequences of T:
 * 6 per parameter per token for the matmuls (wpe is a lookup, so it is left out), plus
 * attention's 6·layers·T·width per token: q·kᵀ and P·v cost 12·layers·T·width forward and
 * backward, halved by the causal mask. One count for every implementation, so throughputs compare.
 */
export function nominalTrainFlops(layout: ParamLayout, T: number, tokens: number): number {
  const { layers, width } = layout.config;
  return 6 * (parameterCount(layout) - layout.params.wpe.size) * tokens + 6 * layers * T * width * tokens;
}
