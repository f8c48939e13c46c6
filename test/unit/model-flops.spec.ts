import { expect, test } from '@playwright/test';
import { nominalTrainFlops, paramLayout } from '../../src/model';

test('nominal training FLOPs: 6 per parameter (wpe left out) per token, plus causal attention', () => {
  const layout = paramLayout({ vocab: 10, context: 8, layers: 1, heads: 2, width: 4 });
  // Parameters without wpe: wte 10·4 = 40; the block: ln1 8, qkv 4·12 + 12 = 60, attn.proj 16 + 4 = 20,
  // ln2 8, fc 4·16 + 16 = 80, mlp.proj 16·4 + 4 = 68, so 244; lnf 8. Total 292 (wpe's 32 aside).
  // 2 sequences of T = 8: 6·292·16 = 28032, attention 6·1·8·4·16 = 3072.
  expect(nominalTrainFlops(layout, 8, 16)).toBe(31104);
  // Attention grows with T at the same token count; the matmul term does not.
  expect(nominalTrainFlops(layout, 4, 16)).toBe(28032 + 6 * 4 * 4 * 16);
});
