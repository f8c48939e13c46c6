/**
 * Picks the next token from one row of logits: the argmax (the first on ties) when
 * `temperature` is 0, else a draw from softmax(logits / temperature) using `random()`
 * (uniform in [0, 1), e.g. Math.random), which it calls only then.
 */
export function sampleToken(logitsRow: Float32Array, temperature: number, random: () => number): number {
  if (logitsRow.length === 0) throw new RangeError('sampleToken: empty logits row');
  if (!(temperature >= 0) || !Number.isFinite(temperature))
    throw new RangeError(`sampleToken: temperature must be finite and ≥ 0, got ${temperature}`);
  let best = 0;
  for (let i = 1; i < logitsRow.length; i++) if (logitsRow[i]! > logitsRow[best]!) best = i;
  if (temperature === 0) return best;
  const max = logitsRow[best]!;
  const weights = new Float64Array(logitsRow.length);
  let total = 0;
  for (let i = 0; i < logitsRow.length; i++) {
    weights[i] = Math.exp((logitsRow[i]! - max) / temperature);
    total += weights[i]!;
  }
  const target = random() * total;
  let cumulative = 0;
  for (let i = 0; i < weights.length; i++) {
    cumulative += weights[i]!;
    if (target < cumulative) return i;
  }
  // Rounding can leave target ≥ the last cumulative sum: take the last token with weight.
  for (let i = weights.length - 1; i >= 0; i--) if (weights[i]! > 0) return i;
  return best;
}
