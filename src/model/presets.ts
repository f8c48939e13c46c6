import type { GptConfig } from './config';

/**
 * Named model shapes. `tiny` is the default run: small enough to train in a tab on a software
 * adapter. `swarm-32mib` is a 32 MiB weight vector (33 pieces) for the swarm test and benchmark.
 */
export const MODEL_PRESETS = {
  tiny: { vocab: 1024, context: 128, layers: 2, heads: 2, width: 64 },
  small: { vocab: 1024, context: 128, layers: 4, heads: 4, width: 128 },
  'swarm-32mib': { vocab: 1024, context: 1024, layers: 10, heads: 4, width: 256 },
} as const satisfies Record<string, GptConfig>;

export type ModelPreset = keyof typeof MODEL_PRESETS;

export function modelPreset(name: string): GptConfig {
  if (!(name in MODEL_PRESETS))
    throw new Error(`unknown model preset "${name}"; known: ${Object.keys(MODEL_PRESETS).join(', ')}`);
  return { ...MODEL_PRESETS[name as ModelPreset] };
}
