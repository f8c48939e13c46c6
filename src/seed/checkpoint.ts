// Checkpoints of the federated run. After every round the seed writes a new folder
// checkpoints/round-NNNNNN/ (weights, outer momentum, the last aggregate that centered clipping
// starts from, the round deltas' residual and the last delta's bytes, the second moment the next
// round names, and state.json: the counters, the history, the volunteers' records and the recent
// norms and distances of the robust rules), each file fsynced and renamed into place, then atomically replaces checkpoint.json,
// which names that folder. Killed at any moment, the seed restarts from the checkpoint it names;
// when that one is missing or damaged (truncated, NaN weights), from the newest valid folder, and
// says so. The two newest folders (by round number) are kept. Export and sample read checkpoints
// without writing anything (readLatestCheckpoint, readRoundCheckpoint).
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CodecSettings,
  type CoordinatorState,
  decodeUpdate,
  type HistoryEntry,
  type ReceiptEntry,
  secondMomentLength,
  type VolunteerRecord,
} from '../fed';
import { readIfExists, removeStaleTemporaries, writeFileAtomic } from './files';

interface CheckpointRecord {
  version: 1;
  round: number;
  folder: string;
  history: HistoryEntry[];
  tokens: number;
  acceptedUpdates: number;
  rejectedUpdates: number;
  /** Absent in checkpoints written before receipts waited for them (nothing was pending then). */
  pendingReceipts?: ReceiptEntry[];
  volunteers?: Record<string, VolunteerRecord>;
  /** The robust rules' recent figures (absent before they were kept: the rules start afresh). */
  defense?: { recentNorms: number[]; recentDistances: number[] };
  /** The last round's delta (its bytes in delta.bin): absent when the run has none. */
  delta?: { from: string; codec: CodecSettings };
}

/** What a run folder's checkpoints give back: the state, and what was wrong on the way. */
export interface LoadedCheckpoint {
  state: CoordinatorState;
  /** Checkpoints passed over (missing, damaged) before this one, and why. */
  warnings: string[];
}

const KEEP_FOLDERS = 2;
const CHECKPOINTS = 'checkpoints';
const bytesOf = (v: Float32Array) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
const floatsOf = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
const folderOf = (round: number) => join(CHECKPOINTS, `round-${String(round).padStart(6, '0')}`);
const roundOf = (name: string) => (/^round-(\d+)$/.test(name) ? Number(name.slice(6)) : undefined);

export async function saveCheckpoint(runDir: string, s: CoordinatorState): Promise<void> {
  const folder = folderOf(s.round);
  const record: CheckpointRecord = {
    version: 1,
    round: s.round,
    folder,
    history: s.history,
    tokens: s.tokens,
    acceptedUpdates: s.acceptedUpdates,
    rejectedUpdates: s.rejectedUpdates,
    pendingReceipts: s.pendingReceipts,
    volunteers: s.volunteers,
    defense: { recentNorms: s.defense.recentNorms, recentDistances: s.defense.recentDistances },
    ...(s.delta ? { delta: { from: s.delta.from, codec: s.delta.codec } } : {}),
  };
  await writeFileAtomic(join(runDir, folder, 'weights.f32'), bytesOf(s.params));
  await writeFileAtomic(join(runDir, folder, 'momentum.f32'), bytesOf(s.momentum));
  if (s.defense.reference) await writeFileAtomic(join(runDir, folder, 'reference.f32'), bytesOf(s.defense.reference));
  if (s.residual) await writeFileAtomic(join(runDir, folder, 'residual.f32'), bytesOf(s.residual));
  if (s.delta) await writeFileAtomic(join(runDir, folder, 'delta.bin'), s.delta.bytes);
  if (s.secondMoment) await writeFileAtomic(join(runDir, folder, 'second-moment.bin'), s.secondMoment);
  await writeFileAtomic(join(runDir, folder, 'state.json'), JSON.stringify(record, null, 2));
  await writeFileAtomic(join(runDir, 'checkpoint.json'), JSON.stringify(record, null, 2));
  // Older folders go, by round number; never the one just written.
  const rounds = (await checkpointRounds(runDir)).filter((r) => r !== s.round);
  for (const old of rounds.slice(KEEP_FOLDERS - 1))
    await rm(join(runDir, folderOf(old)), { recursive: true, force: true });
}

/** Reads one checkpoint folder; throws, saying what is wrong, unless it is complete and finite. */
async function readFolder(
  runDir: string,
  folder: string,
  parameters: number,
  pointer?: CheckpointRecord,
): Promise<CoordinatorState> {
  const read = async (name: string) => {
    const b = await readIfExists(join(runDir, folder, name));
    if (!b) throw new Error(`${name} is missing`);
    return b;
  };
  // Folders written before state.json existed rely on checkpoint.json's copy of it.
  const stateFile = await readIfExists(join(runDir, folder, 'state.json'));
  if (!stateFile && pointer?.folder !== folder) throw new Error('state.json is missing');
  const record = stateFile ? (JSON.parse(stateFile.toString('utf8')) as CheckpointRecord) : pointer!;
  const [weights, momentumBytes] = [await read('weights.f32'), await read('momentum.f32')];
  if (weights.length !== 4 * parameters || momentumBytes.length !== 4 * parameters)
    throw new Error(`vectors are not ${parameters} floats`);
  const [params, momentum] = [floatsOf(weights), floatsOf(momentumBytes)];
  if (!params.every(Number.isFinite) || !momentum.every(Number.isFinite))
    throw new Error('weights or momentum hold NaN or infinite values');
  /** A vector the checkpoint may lack; when there, `parameters` finite floats. */
  const optionalFloats = async (name: string) => {
    const b = await readIfExists(join(runDir, folder, name));
    const v = b ? floatsOf(b) : undefined;
    if (v && (v.length !== parameters || !v.every(Number.isFinite)))
      throw new Error(`${name} is not ${parameters} finite floats`);
    return v;
  };
  // The last aggregate: absent in checkpoints written before it was kept (clipping then starts at zero).
  const reference = await optionalFloats('reference.f32');
  // The round deltas' residual: absent before the first delta.
  const residual = await optionalFloats('residual.f32');
  let delta: CoordinatorState['delta'];
  if (record.delta) {
    const bytes = new Uint8Array(await read('delta.bin'));
    try {
      decodeUpdate(bytes, parameters, record.delta.codec);
    } catch (e) {
      throw new Error(`delta.bin does not decode: ${(e as Error).message}`);
    }
    delta = { ...record.delta, bytes };
  }
  const momentBytes = await readIfExists(join(runDir, folder, 'second-moment.bin'));
  const secondMoment = momentBytes ? new Uint8Array(momentBytes) : undefined;
  if (secondMoment && secondMoment.length !== secondMomentLength(parameters))
    throw new Error(`second-moment.bin is not ${secondMomentLength(parameters)} codes`);
  return {
    round: record.round,
    params,
    momentum,
    history: record.history,
    tokens: record.tokens,
    acceptedUpdates: record.acceptedUpdates,
    rejectedUpdates: record.rejectedUpdates,
    pendingReceipts: record.pendingReceipts ?? [],
    // Records written before streaks and suspensions were kept start with none (checked more, suspended never).
    volunteers: Object.fromEntries(
      Object.entries(record.volunteers ?? {}).map(([p, v]) => [
        p,
        { ...v, streak: v.streak ?? 0, suspendedUntil: v.suspendedUntil ?? 0 },
      ]),
    ),
    defense: { reference, ...(record.defense ?? { recentNorms: [], recentDistances: [] }) },
    ...(residual ? { residual } : {}),
    ...(delta ? { delta } : {}),
    ...(secondMoment ? { secondMoment } : {}),
  };
}

/** checkpoint.json's record; undefined when the file is missing or damaged. */
function parsePointer(raw: Buffer | undefined): CheckpointRecord | undefined {
  if (!raw) return undefined;
  try {
    return JSON.parse(raw.toString('utf8')) as CheckpointRecord;
  } catch {
    return undefined;
  }
}

/** Rounds with a folder under checkpoints/, newest first. */
async function checkpointRounds(runDir: string): Promise<number[]> {
  const names = await readdir(join(runDir, CHECKPOINTS)).catch(() => [] as string[]);
  return names
    .map(roundOf)
    .filter((r): r is number => r !== undefined)
    .sort((a, b) => b - a);
}

/**
 * The run's last good checkpoint, or undefined for a run that has not completed a round. Tries the
 * checkpoint checkpoint.json names, then the other folders, newest first; refuses a run whose
 * checkpoints are all damaged (restarting at round 0 would silently throw the run away).
 */
export async function loadCheckpoint(runDir: string, parameters: number): Promise<LoadedCheckpoint | undefined> {
  await removeStaleTemporaries(runDir);
  for (const name of await readdir(join(runDir, CHECKPOINTS)).catch(() => [] as string[]))
    await removeStaleTemporaries(join(runDir, CHECKPOINTS, name));
  return readLatestCheckpoint(runDir, parameters);
}

/**
 * loadCheckpoint without its clean-up of temporary files: it writes nothing, so it may read a run
 * folder a seed is using (export, sample).
 */
export async function readLatestCheckpoint(runDir: string, parameters: number): Promise<LoadedCheckpoint | undefined> {
  const warnings: string[] = [];
  const raw = await readIfExists(join(runDir, 'checkpoint.json'));
  const pointer = parsePointer(raw);
  if (raw && !pointer) warnings.push('checkpoint.json is damaged');
  const folders = (await checkpointRounds(runDir)).map(folderOf);
  if (!raw) {
    // Without checkpoint.json only folders a save finished (state.json is written last) count; a
    // first save cut short leaves none, and the run starts at round 0.
    const finished = [];
    for (const f of folders) if (await readIfExists(join(runDir, f, 'state.json'))) finished.push(f);
    if (finished.length === 0) return undefined;
    warnings.push('checkpoint.json is missing');
  }
  const candidates = [...new Set([...(pointer ? [pointer.folder] : []), ...folders])];
  for (const folder of candidates) {
    try {
      return { state: await readFolder(runDir, folder, parameters, pointer), warnings };
    } catch (e) {
      warnings.push(`${folder}: ${(e as Error).message}`);
    }
  }
  throw new Error(
    `run folder ${runDir}: no usable checkpoint (${warnings.join('; ')}); restore one from a backup, or move ${CHECKPOINTS}/ and checkpoint.json away to restart the run from round 0`,
  );
}

/**
 * The checkpoint after round `round` (checkpoints/round-N/), read only; throws, naming its folder,
 * unless it is there and sound.
 */
export async function readRoundCheckpoint(
  runDir: string,
  round: number,
  parameters: number,
): Promise<CoordinatorState> {
  const path = join(runDir, folderOf(round));
  const rounds = await checkpointRounds(runDir);
  if (!rounds.includes(round))
    throw new Error(`${path} does not exist (checkpointed rounds: ${rounds.join(', ') || 'none'})`);
  const pointer = parsePointer(await readIfExists(join(runDir, 'checkpoint.json')));
  try {
    return await readFolder(runDir, folderOf(round), parameters, pointer);
  } catch (e) {
    throw new Error(`${path} is damaged: ${(e as Error).message}`);
  }
}
