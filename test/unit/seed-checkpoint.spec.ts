// Checkpoints of the federated run on disk: a save/load round trip is exact, old folders are pruned
// by round number, a run without checkpoint.json has none, a save cut short before checkpoint.json
// is replaced leaves the previous checkpoint loadable, and a damaged checkpoint (wrong sizes, NaN,
// truncated, checkpoint.json deleted) gives way to the newest good one, or is refused clearly.
import '../../src/seed/promise-shim';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { type CodecSettings, secondMomentLength } from '../../src/fed';
import type { CoordinatorState } from '../../src/fed/coordinator';
import { encodeRoundDelta } from '../../src/fed/round-delta';
import { type LoadedCheckpoint, loadCheckpoint, saveCheckpoint } from '../../src/seed/checkpoint';
import { randomUniform } from '../../src/util/random';

const N = 1000;

let dir: string;

test.beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vgpu-checkpoint-'));
});

test.afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A state after `round` rounds, with awkward floats (−0, subnormals, ±Infinity, extremes) in both vectors. */
async function state(round: number): Promise<CoordinatorState> {
  const params = randomUniform(N, round + 1, 2);
  const momentum = randomUniform(N, round + 101, 0.01);
  params.set([-0, 1e-45, -1.4e-45, 3.4028234663852886e38, -3.4028234663852886e38], 0);
  momentum.set([1.17549435e-38, -0, 5e-40], N - 3);
  const history = [{ round: 0, tokens: 0, valLoss: 5.25 }];
  for (let r = 1; r <= round; r++) history.push({ round: r, tokens: 32 * r, valLoss: 5.25 - 0.1 * r });
  return {
    round,
    params,
    momentum,
    history,
    tokens: 32 * round,
    acceptedUpdates: round,
    rejectedUpdates: 1 + round,
    pendingReceipts: [{ round: round - 1, peer: 'p', tokens: 32, update: 'ab'.repeat(32), bytes: 9, at: 1 }],
    volunteers: {
      p: { verified: round, streak: round, misses: 0, benchedUntil: 0, lastAssigned: round - 1, suspendedUntil: 0 },
    },
    defense: {
      reference: randomUniform(N, round + 201, 0.1),
      recentNorms: [1.5, 2.25, 0.1 * round],
      recentDistances: [0.75, 1e-3],
    },
  };
}

const bytes = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

function expectSame(loaded: LoadedCheckpoint | undefined, want: CoordinatorState, warnings: string[] = []): void {
  expect(loaded).toBeDefined();
  expect(loaded!.warnings).toEqual(warnings);
  const g = loaded!.state;
  // Bit for bit (toEqual would call −0 and 0 equal).
  expect(g.params.length).toBe(want.params.length);
  expect(Buffer.compare(bytes(g.params), bytes(want.params))).toBe(0);
  expect(Buffer.compare(bytes(g.momentum), bytes(want.momentum))).toBe(0);
  expect(Object.is(g.params[0], -0)).toBe(true);
  expect(Buffer.compare(bytes(g.defense.reference!), bytes(want.defense.reference!))).toBe(0);
  const rest = (s: CoordinatorState) => ({
    ...s,
    params: undefined,
    momentum: undefined,
    defense: { ...s.defense, reference: undefined },
  });
  expect(rest(g)).toEqual(rest(want));
}

const roundFolders = async () => (await readdir(join(dir, 'checkpoints'))).sort();

test('saveCheckpoint then loadCheckpoint gives back the same state, bit for bit', async () => {
  const s = await state(3);
  await saveCheckpoint(dir, s);
  const loaded = await loadCheckpoint(dir, N);
  expectSame(loaded, s);
  // The loaded vectors are fresh, writable arrays of their own.
  const params = loaded!.state.params;
  expect(params).toBeInstanceOf(Float32Array);
  expect(params.buffer.byteLength).toBe(4 * N);
  params[1] = 7;
  expect(s.params[1]).not.toBe(7);
  expect(await roundFolders()).toEqual(['round-000003']);
  expect((await readdir(join(dir, 'checkpoints', 'round-000003'))).sort()).toEqual([
    'momentum.f32',
    'reference.f32',
    'state.json',
    'weights.f32',
  ]);
  const record = JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8')) as Record<string, unknown>;
  expect(record).toMatchObject({
    version: 1,
    round: 3,
    folder: join('checkpoints', 'round-000003'),
    tokens: 96,
    acceptedUpdates: 3,
    rejectedUpdates: 4,
  });
  // No temporary files are left behind.
  expect((await readdir(dir)).sort()).toEqual(['checkpoint.json', 'checkpoints']);
});

test('after four saves only the two newest round folders remain, and the newest is loaded', async () => {
  const states = [];
  for (const round of [1, 2, 3, 4]) {
    const s = await state(round);
    states.push(s);
    await saveCheckpoint(dir, s);
    expectSame(await loadCheckpoint(dir, N), s);
  }
  expect(await roundFolders()).toEqual(['round-000003', 'round-000004']);
  expectSame(await loadCheckpoint(dir, N), states[3]!);
});

test('loadCheckpoint returns undefined for a run folder without checkpoint.json', async () => {
  expect(await loadCheckpoint(dir, N)).toBeUndefined();
  expect(await loadCheckpoint(join(dir, 'does-not-exist'), N)).toBeUndefined();
  // Round folders without checkpoint.json (a first save cut short) are not a checkpoint either.
  await mkdir(join(dir, 'checkpoints', 'round-000001'), { recursive: true });
  await writeFile(join(dir, 'checkpoints', 'round-000001', 'weights.f32'), new Uint8Array(4 * N));
  expect(await loadCheckpoint(dir, N)).toBeUndefined();
});

test("the round deltas' residual, the last delta and the second moment come back bit for bit; a delta.bin that does not decode gives way to the older checkpoint", async () => {
  const codec: CodecSettings = { format: 'int8', blockSize: 256, density: 1 };
  const withDelta = async (round: number): Promise<CoordinatorState> => {
    const s = await state(round);
    const noise = randomUniform(N, round + 301, 1e-3);
    const target = s.params.map((x, i) => x + noise[i]!);
    const { bytes, residual } = encodeRoundDelta(s.params, target, undefined, codec);
    const secondMoment = new Uint8Array(secondMomentLength(N)).fill(round + 100);
    return { ...s, residual, delta: { from: 'cd'.repeat(32), codec, bytes }, secondMoment };
  };
  const s2 = await withDelta(2);
  const s3 = await withDelta(3);
  await saveCheckpoint(dir, s2);
  await saveCheckpoint(dir, s3);
  const loaded = (await loadCheckpoint(dir, N))!.state;
  expect(Buffer.compare(bytes(loaded.residual!), bytes(s3.residual!))).toBe(0);
  expect(loaded.delta!.from).toBe(s3.delta!.from);
  expect(loaded.delta!.codec).toEqual(codec);
  expect(Buffer.compare(loaded.delta!.bytes, s3.delta!.bytes)).toBe(0);
  expect(loaded.secondMoment).toEqual(s3.secondMoment);
  const folder3 = join('checkpoints', 'round-000003');
  expect((await readdir(join(dir, folder3))).sort()).toEqual([
    'delta.bin',
    'momentum.f32',
    'reference.f32',
    'residual.f32',
    'second-moment.bin',
    'state.json',
    'weights.f32',
  ]);
  // A delta cut short, then a residual of the wrong length: each time round 2's checkpoint is used.
  await writeFile(join(dir, folder3, 'delta.bin'), s3.delta!.bytes.subarray(0, 100));
  const older = await loadCheckpoint(dir, N);
  expect(older!.state.round).toBe(2);
  expect(older!.warnings).toEqual([expect.stringMatching(/^checkpoints\/round-000003: delta.bin does not decode: /)]);
  await writeFile(join(dir, folder3, 'delta.bin'), s3.delta!.bytes);
  await writeFile(join(dir, folder3, 'residual.f32'), new Uint8Array(8));
  expect((await loadCheckpoint(dir, N))!.warnings).toEqual([`${folder3}: residual.f32 is not ${N} finite floats`]);
  await writeFile(join(dir, folder3, 'residual.f32'), bytes(s3.residual!));
  await writeFile(join(dir, folder3, 'second-moment.bin'), new Uint8Array(3));
  expect((await loadCheckpoint(dir, N))!.warnings).toEqual([
    `${folder3}: second-moment.bin is not ${secondMomentLength(N)} codes`,
  ]);
});

test('a checkpoint whose vectors have the wrong length is refused with a clear error', async () => {
  await saveCheckpoint(dir, await state(2));
  const folder = join('checkpoints', 'round-000002');
  await expect(loadCheckpoint(dir, N + 1)).rejects.toThrow(`${folder}: vectors are not ${N + 1} floats`);
  await expect(loadCheckpoint(dir, N - 1)).rejects.toThrow(`${folder}: vectors are not ${N - 1} floats`);
  // One float short in the momentum file only.
  await writeFile(join(dir, folder, 'momentum.f32'), new Uint8Array(4 * (N - 1)));
  await expect(loadCheckpoint(dir, N)).rejects.toThrow(`${folder}: vectors are not ${N} floats`);
  // A file the checkpoint needs is gone; the message says what to do.
  await rm(join(dir, folder, 'weights.f32'));
  await expect(loadCheckpoint(dir, N)).rejects.toThrow(`${folder}: weights.f32 is missing`);
  await expect(loadCheckpoint(dir, N)).rejects.toThrow(/no usable checkpoint .*restore one from a backup/);
});

test('a damaged newest checkpoint (NaN weights, truncated) gives way to the older kept one, with warnings', async () => {
  const s2 = await state(2);
  await saveCheckpoint(dir, s2);
  await saveCheckpoint(dir, await state(3));
  const folder3 = join('checkpoints', 'round-000003');
  const nan = new Float32Array(N);
  nan[5] = Number.NaN;
  await writeFile(join(dir, folder3, 'weights.f32'), bytes(nan));
  expectSame(await loadCheckpoint(dir, N), s2, [`${folder3}: weights or momentum hold NaN or infinite values`]);
  await writeFile(join(dir, folder3, 'weights.f32'), new Uint8Array(100)); // truncated
  expectSame(await loadCheckpoint(dir, N), s2, [`${folder3}: vectors are not ${N} floats`]);
});

test('a deleted checkpoint.json: the newest finished folder is used, and the loss of the pointer is reported', async () => {
  await saveCheckpoint(dir, await state(2));
  const s3 = await state(3);
  await saveCheckpoint(dir, s3);
  await rm(join(dir, 'checkpoint.json'));
  expectSame(await loadCheckpoint(dir, N), s3, ['checkpoint.json is missing']);
  await writeFile(join(dir, 'checkpoint.json'), '{"version": 1, "rou');
  expectSame(await loadCheckpoint(dir, N), s3, ['checkpoint.json is damaged']);
});

test('pruning goes by round number and never takes the folder just written', async () => {
  // Folders of rounds 23 and 24 from before, and a save of round 1 (a run restarted from an old backup).
  for (const round of [23, 24]) await saveCheckpoint(dir, await state(round));
  const s1 = await state(1);
  await saveCheckpoint(dir, s1);
  expect(await roundFolders()).toEqual(['round-000001', 'round-000024']);
  expectSame(await loadCheckpoint(dir, N), s1);
});

test('a save interrupted before checkpoint.json is replaced leaves the previous checkpoint loadable', async () => {
  const s2 = await state(2);
  await saveCheckpoint(dir, s2);
  const s3 = await state(3);
  await saveCheckpoint(dir, s3);
  // The save of round 4 got as far as part of its folder: weights written, momentum half written,
  // no state.json, and checkpoint.json still the old one.
  const s4 = await state(4);
  const folder4 = join(dir, 'checkpoints', 'round-000004');
  await mkdir(folder4, { recursive: true });
  await writeFile(join(folder4, 'weights.f32'), bytes(s4.params));
  await writeFile(join(folder4, 'momentum.f32'), bytes(s4.momentum).subarray(0, 2 * N));
  await writeFile(join(folder4, 'momentum.f32.tmp-12345'), new Uint8Array(17));
  expectSame(await loadCheckpoint(dir, N), s3);
  // The temporary file of the cut write is gone.
  expect((await readdir(folder4)).sort()).toEqual(['momentum.f32', 'weights.f32']);
  expect(await roundFolders()).toEqual(['round-000002', 'round-000003', 'round-000004']);
  // The restarted seed redoes round 4 and saves it over the leftovers; the old folders are pruned.
  await saveCheckpoint(dir, s4);
  expectSame(await loadCheckpoint(dir, N), s4);
  expect(await roundFolders()).toEqual(['round-000003', 'round-000004']);
});
