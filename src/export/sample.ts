import { gptForwardCpu, type ParamLayout, sampleToken } from '../model';
import { createRandom } from '../util/random';

export interface SampleSettings {
  /** New tokens to add. */
  tokens: number;
  /** 0 picks the most likely token (greedy); above 0 draws from softmax(logits / temperature). */
  temperature: number;
  /** Seed of the draws: the same weights, prompt and seed give the same tokens. */
  seed: number;
}

/** Seeded sampling at "try the model"'s temperature. */
export const DEFAULT_SAMPLE_SETTINGS: SampleSettings = { tokens: 50, temperature: 0.8, seed: 1 };

/**
 * Continues `prompt` (token ids) by `settings.tokens` tokens on the CPU reference model, which
 * sees the last `context` tokens at each step; returns the new tokens.
 */
export function continueTokens(
  layout: ParamLayout,
  params: Float32Array,
  prompt: Uint32Array,
  settings: SampleSettings,
): Uint32Array {
  if (prompt.length === 0) throw new RangeError('the prompt has no tokens');
  const { context, vocab } = layout.config;
  const random = createRandom(settings.seed);
  const tokens = Array.from(prompt);
  for (let i = 0; i < settings.tokens; i++) {
    const window = Uint32Array.from(tokens.slice(-context));
    const { logits } = gptForwardCpu(layout, params, window, undefined, 1, window.length);
    tokens.push(sampleToken(logits.subarray((window.length - 1) * vocab), settings.temperature, random));
  }
  return Uint32Array.from(tokens.slice(prompt.length));
}
