import { expect, test } from '@playwright/test';
import { checkOutput, OutputCheckError, sampleIndices } from '../../bench/lib/check';
import { formatTable, lowerIsBetter, mean, median, spreadRows } from '../../bench/lib/results';
import { interleavedMs } from '../../bench/lib/timing';

test('median of odd and even lists, and the mean', () => {
  expect(median([3, 1, 2])).toBe(2);
  expect(median([4, 1, 3, 2])).toBe(2.5);
  expect(mean([4, 1, 3, 2])).toBe(2.5);
  expect(mean([1, 1, 7])).toBe(3);
  expect(spreadRows('c', 'ours', 'val_loss', [1, 1, 7], mean).map((r) => r.value)).toEqual([3, 1, 7]);
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

test('without an implementation named ours the table has no ratio columns', () => {
  const table = formatTable([
    { case: 'sign-flip@20', impl: 'mean', metric: 'val_loss_ratio', value: 1.25 },
    { case: 'sign-flip@20', impl: 'centered-clip', metric: 'val_loss_ratio', value: 1 },
  ]);
  const [header, , line] = table.split('\n');
  expect(header!.trim().split(/\s{2,}/)).toEqual(['case', 'metric', 'mean', 'centered-clip']);
  expect(line!.trim().split(/\s{2,}/)).toEqual(['sign-flip@20', 'val_loss_ratio', '1.250', '1']);
});

test('a spread figure is three rows, printed as "median [min–max]" in one cell', () => {
  const rows = [...spreadRows('T=64', 'ours', 'fwd_ms', [3, 1, 2]), ...spreadRows('T=64', 'peer', 'fwd_ms', [4, 8, 6])];
  expect(rows.map((r) => [r.metric, r.value])).toEqual([
    ['fwd_ms', 2],
    ['fwd_ms_min', 1],
    ['fwd_ms_max', 3],
    ['fwd_ms', 6],
    ['fwd_ms_min', 4],
    ['fwd_ms_max', 8],
  ]);
  const lines = formatTable(rows).split('\n');
  expect(lines).toHaveLength(3);
  expect(lines[2]).toMatch(/T=64\s+fwd_ms\s+2 \[1–3\]\s+6 \[4–8\]\s+3\.00x/);
  expect(() => spreadRows('c', 'ours', 'gflops', [])).toThrow(/no runs/);
});

test('implementations are timed in turns, warm-up first, every run kept', async () => {
  const calls: string[] = [];
  const impl = (name: string) => async () => {
    calls.push(name);
  };
  const times = await interleavedMs({ a: impl('a'), b: impl('b') }, { warmup: 1, runs: 3 });
  expect(calls).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
  expect(times.a).toHaveLength(3);
  expect(times.b.every((ms) => ms >= 0)).toBe(true);
});

test('an output check names the implementation and the worst element, on all or sampled indices', () => {
  const want = Float32Array.from([1, 2, 3, 4]);
  expect(() =>
    checkOutput('ours 2x2', Float32Array.from([1, 2, 3, 4.0001]), want, { atol: 1e-3, rtol: 0 }),
  ).not.toThrow();
  expect(() => checkOutput('ours 2x2', Float32Array.from([1, 2.5, 3, 9]), want, { atol: 1e-3, rtol: 0 })).toThrow(
    /ours 2x2: element 3 is 9, the reference 4/,
  );
  expect(() => checkOutput('x', Float32Array.from([1, Number.NaN, 3, 4]), want, { atol: 1, rtol: 1 })).toThrow(
    OutputCheckError,
  );
  expect(() => checkOutput('x', Float32Array.from([1, 2]), want, { atol: 1, rtol: 1 })).toThrow(/2 values/);
  // Sampled: `want` holds the reference at the sampled indices only.
  const got = Float32Array.from({ length: 100 }, (_, i) => i);
  const idx = sampleIndices(100, 10);
  expect(new Set(idx).size).toBe(10);
  expect(Math.max(...idx)).toBeLessThan(100);
  expect(() => checkOutput('s', got, Float32Array.from(idx), { atol: 0, rtol: 0 }, idx)).not.toThrow();
  const wrong = Float32Array.from(idx, (i, j) => (j === 4 ? i + 1 : i));
  expect(() => checkOutput('s', got, wrong, { atol: 0.5, rtol: 0 }, idx)).toThrow(new RegExp(`element ${idx[4]} `));
  expect(sampleIndices(5, 10)).toEqual(Uint32Array.from([0, 1, 2, 3, 4]));
});
