import { expect, test } from '@playwright/test';
import { formatTable, lowerIsBetter, median } from '../../bench/lib/results';

test('median of odd and even lists', () => {
  expect(median([3, 1, 2])).toBe(2);
  expect(median([4, 1, 3, 2])).toBe(2.5);
});

test('the table prints ratios where > 1 means ours is better, for both metric directions', () => {
  expect(lowerIsBetter('fwd_ms')).toBe(true);
  expect(lowerIsBetter('gflops')).toBe(false);
  expect(lowerIsBetter('tokens_per_s')).toBe(false);
  expect(lowerIsBetter('last_tab_s')).toBe(true);
  expect(lowerIsBetter('seed_upload_ratio')).toBe(true);
  expect(lowerIsBetter('bytes_per_volunteer')).toBe(true);
  expect(lowerIsBetter('reduction_vs_ddp')).toBe(false);
  const table = formatTable([
    { case: '512x512x512', impl: 'ours', metric: 'gflops', value: 3 },
    { case: '512x512x512', impl: 'peer', metric: 'gflops', value: 2 },
    { case: 'T=128', impl: 'ours', metric: 'fwd_ms', value: 2 },
    { case: 'T=128', impl: 'peer', metric: 'fwd_ms', value: 5 },
  ]);
  const lines = table.split('\n');
  expect(lines[0]).toMatch(/case\s+metric\s+ours\s+peer\s+ours vs peer/);
  expect(lines[2]).toMatch(/512x512x512\s+gflops\s+3\s+2\s+1\.50x/);
  expect(lines[3]).toMatch(/T=128\s+fwd_ms\s+2\s+5\s+2\.50x/);
});
