// How the matmul's tile is chosen: the small-tile fallback follows the adapter's parallelism (measured
// by tuneMatmul, assumed before), the trainer tunes on the products a GPT step really runs, and a
// record kept from an earlier session is installed without tuning again.
import { type MatmulTiles, SMALL_TILES as SMALL } from '../../src/gpu/matmul-tiles';
import { expect, inPage, test } from '../harness/page';
import type { FallbackResult } from './matmul-tuning.cases';

const CASES = '/test/browser/matmul-tuning.cases.ts';

const BIG: MatmulTiles = { TILE_M: 64, TILE_N: 64, TILE_K: 16, TM: 8 };

test('a product with fewer workgroups than the adapter runs at once falls back to small tiles; one with as many does not', async ({
  gpuPage,
}) => {
  const r = await inPage<FallbackResult>(gpuPage, CASES, 'fallbackFollowsParallelism', { tiles: BIG, parallelism: 8 });
  expect(r.installed.below?.launch.tiles).toEqual(SMALL);
  expect(r.installed.at.launch.tiles).toEqual(BIG);
  // Before any tuning: a CPU adapter is taken to run one workgroup per core, a GPU hundreds.
  expect(r.assumed).toBe(r.cores ?? 512);
  if (r.fresh.below) expect(r.fresh.below.launch.tiles).toEqual(SMALL);
  expect(r.fresh.at.launch.tiles).toEqual(r.defaultTiles);
  for (const launch of [r.installed.below, r.installed.at, r.fresh.below, r.fresh.at]) {
    if (launch) expect(launch.worst).toBeLessThanOrEqual(1);
  }
});

test('stepMatmuls lists every matmul a training step of the GPU model dispatches', async ({ gpuPage }) => {
  const r = await inPage<{ clock: string; dispatched: number; listed: number; layers: number }>(
    gpuPage,
    CASES,
    'stepMatmulsMatchTheStep',
  );
  test.skip(r.clock !== 'timestamp', 'counting dispatches needs timestamp-query');
  // Four linear layers of three products each, per layer, and the tied head's three.
  expect(r.listed).toBe(12 * r.layers + 3);
  expect(r.dispatched).toBe(r.listed);
});

test('tuneMatmul leaves out products that take the thin path, and refuses shapes that all do', async ({ gpuPage }) => {
  const r = await inPage<{ allThin: string; ranked: number }>(gpuPage, CASES, 'tuningLeavesOutThinProducts');
  expect(r.allThin).toMatch(/\[gpu:matmul\] no product to tune: every shape takes the thin path/);
  expect(r.ranked).toBe(1);
});

test('tiles kept for this adapter and step shape are installed as kept, with their parallelism', async ({
  gpuPage,
}) => {
  const record = { tiles: BIG, parallelism: 3 };
  const r = await inPage<{
    choice: { tiles: MatmulTiles; parallelism: number; source: string };
    launches: { launch: { tiles: MatmulTiles }; worst: number }[];
  }>(gpuPage, CASES, 'keptTilesAreInstalled', record);
  expect(r.choice).toEqual({ ...record, source: 'kept' });
  expect(r.launches.map((l) => l.launch.tiles)).toEqual([SMALL, BIG]);
  for (const l of r.launches) expect(l.worst).toBeLessThanOrEqual(1);
});
