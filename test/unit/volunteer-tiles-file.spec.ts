// The Node volunteer's tuned matmul tiles, kept in a JSON file (src/volunteer/tiles-file.ts).
import { readFile, writeFile } from 'node:fs/promises';
import { expect, test } from '@playwright/test';
import { defaultTilesFile, jsonFileStore } from '../../src/volunteer/tiles-file';

const RECORD = { tiles: { TILE_M: 64, TILE_N: 64, TILE_K: 32, TM: 8 }, parallelism: 2 };

test('records outlive the store that wrote them: a new store on the same file reads them', async () => {
  const path = test.info().outputPath('cache', 'vgpu', 'matmul-tiles.json'); // folders made on first write
  const first = jsonFileStore(path);
  expect(await first.getProgress('a')).toBeUndefined();
  // Concurrent writes each land over what the file holds then: none is lost.
  await Promise.all([first.setProgress('a', RECORD), first.setProgress('b', { parallelism: 8 })]);
  const later = jsonFileStore(path);
  expect(await later.getProgress('a')).toEqual(RECORD);
  expect(await later.getProgress('b')).toEqual({ parallelism: 8 });
});

test('a damaged file reads as empty, and the next write replaces it with valid JSON', async () => {
  const path = test.info().outputPath('matmul-tiles.json');
  await writeFile(path, '{"a": {"tiles": ');
  const store = jsonFileStore(path);
  expect(await store.getProgress('a')).toBeUndefined();
  await store.setProgress('a', RECORD);
  expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ a: RECORD });
});

test('the default file is under $XDG_CACHE_HOME/vgpu', () => {
  const saved = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = '/var/cache/someone';
  try {
    expect(defaultTilesFile()).toBe('/var/cache/someone/vgpu/matmul-tiles.json');
  } finally {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
  }
});
