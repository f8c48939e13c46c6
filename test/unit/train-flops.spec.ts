import { expect, test } from '@playwright/test';
import {
  flashAttentionFlops,
  fullAttentionFlops,
  keyTileScores,
  linearFlops,
  queryTileScores,
} from '../../bench/lib/train-flops';
import { paramLayout } from '../../src/model';

const tile = (BR: number, BC: number) => ({ BR, BC, WG: 64 });

test('attention kernels compute every score tile up to the diagonal and none above it', () => {
  // One tile covers the whole sequence: all T² scores.
  expect(queryTileScores(64, tile(64, 64))).toBe(64 * 64);
  expect(keyTileScores(64, tile(64, 64))).toBe(64 * 64);
  // T = 128 in 64×64 tiles: 3 of the 4 tiles; 4 rows of 32×32 tiles: 1 + 2 + 3 + 4 of 16.
  expect(queryTileScores(128, tile(64, 64))).toBe(3 * 64 * 64);
  expect(keyTileScores(128, tile(64, 64))).toBe(3 * 64 * 64);
  expect(queryTileScores(128, tile(32, 32))).toBe(10 * 32 * 32);
  // 64 query rows × 32 keys at T = 128: query tile 0 sees 2 key tiles, query tile 1 all 4.
  expect(queryTileScores(128, tile(64, 32))).toBe(6 * 64 * 32);
  // The dK/dV kernel's key tile of 64 at T = 128, over query tiles of 32: key tile 0 meets 4, key tile 1 meets 2.
  expect(keyTileScores(128, tile(32, 64))).toBe(6 * 32 * 64);
  // A sequence that does not fill its last tile still computes the whole tile.
  expect(queryTileScores(40, tile(32, 32))).toBe(3 * 32 * 32);
});

test('flash attention FLOPs: 18·D per computed score; full attention: 12·D per score of T²', () => {
  const layout = paramLayout({ vocab: 16, context: 128, layers: 2, heads: 4, width: 128 });
  const [B, T, D, H, L] = [3, 128, 32, 4, 2];
  const oneTile = { forward: tile(128, 128), dq: tile(128, 128), dkdv: tile(128, 128) };
  expect(flashAttentionFlops(layout, B, T, oneTile)).toBe(18 * D * T * T * L * B * H);
  expect(fullAttentionFlops(layout, B, T)).toBe(12 * D * T * T * L * B * H);
  const small = { forward: tile(32, 32), dq: tile(32, 32), dkdv: tile(32, 32) };
  expect(flashAttentionFlops(layout, B, T, small)).toBe(18 * D * 10 * 32 * 32 * L * B * H);
});

test('linear FLOPs: 6 per weight of the linear layers and the tied head, per token', () => {
  const layout = paramLayout({ vocab: 16, context: 128, layers: 2, heads: 4, width: 128 });
  // wte (the head) 16·128; each layer qkv 3C², proj C², fc 4C², proj 4C².
  expect(linearFlops(layout, 10)).toBe(6 * (16 * 128 + 2 * 12 * 128 * 128) * 10);
});
