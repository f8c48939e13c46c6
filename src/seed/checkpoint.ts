// Checkpoints of the federated run. After every round the seed writes a new folder
// checkpoints/round-NNNNNN/ (weights, outer momentum, the receipts ledger), fsyncs it, then
// atomically replaces checkpoint.json, which names that folder and holds the counters and the
// history. Killed at any moment, the seed restarts from the last checkpoint.json: a folder it
// names is always complete. The two newest folders are kept.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CoordinatorState, HistoryEntry } from '../fed';
import type { SignedDocument } from '../swarm';
import { readIfExists, writeFileAtomic } from './files';

interface CheckpointRecord {
  version: 1;
  round: number;
  folder: string;
  history: HistoryEntry[];
  tokens: number;
  acceptedUpdates: number;
  rejectedUpdates: number;
}

const KEEP_FOLDERS = 2;
const bytesOf = (v: Float32Array) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
const floatsOf = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));

export async function saveCheckpoint(runDir: string, s: CoordinatorState): Promise<void> {
  const folder = join('checkpoints', `round-${String(s.round).padStart(6, '0')}`);
  await writeFileAtomic(join(runDir, folder, 'weights.f32'), bytesOf(s.params));
  await writeFileAtomic(join(runDir, folder, 'momentum.f32'), bytesOf(s.momentum));
  await writeFileAtomic(join(runDir, folder, 'receipts.json'), JSON.stringify(s.receipts));
  const record: CheckpointRecord = {
    version: 1,
    round: s.round,
    folder,
    history: s.history,
    tokens: s.tokens,
    acceptedUpdates: s.acceptedUpdates,
    rejectedUpdates: s.rejectedUpdates,
  };
  await writeFileAtomic(join(runDir, 'checkpoint.json'), JSON.stringify(record, null, 2));
  const folders = (await readdir(join(runDir, 'checkpoints'))).filter((f) => f.startsWith('round-')).sort();
  for (const old of folders.slice(0, -KEEP_FOLDERS))
    await rm(join(runDir, 'checkpoints', old), { recursive: true, force: true });
}

/** The last checkpoint, or undefined for a run that has not completed a round. */
export async function loadCheckpoint(runDir: string, parameters: number): Promise<CoordinatorState | undefined> {
  const raw = await readIfExists(join(runDir, 'checkpoint.json'));
  if (!raw) return undefined;
  const record = JSON.parse(raw.toString('utf8')) as CheckpointRecord;
  const read = async (name: string) => {
    const b = await readIfExists(join(runDir, record.folder, name));
    if (!b) throw new Error(`checkpoint ${record.folder}: ${name} is missing`);
    return b;
  };
  const [weights, momentumBytes] = [await read('weights.f32'), await read('momentum.f32')];
  if (weights.length !== 4 * parameters || momentumBytes.length !== 4 * parameters)
    throw new Error(`checkpoint ${record.folder}: vectors are not ${parameters} floats`);
  const [params, momentum] = [floatsOf(weights), floatsOf(momentumBytes)];
  return {
    round: record.round,
    params,
    momentum,
    history: record.history,
    tokens: record.tokens,
    acceptedUpdates: record.acceptedUpdates,
    rejectedUpdates: record.rejectedUpdates,
    receipts: JSON.parse((await read('receipts.json')).toString('utf8')) as SignedDocument[],
  };
}
