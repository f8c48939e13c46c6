// The run folder: everything a run keeps on disk (the seed's key, the model and its initial weights,
// the data, the checkpoints, the current weights manifest), opened or created before anything
// listens. A folder keeps its model: naming another preset for it is refused.
import { join } from 'node:path';
import type { PrivateKey } from '@libp2p/interface';
import { type CoordinatorState, freshCoordinatorState } from '../fed';
import { checkKernelLimits, type GptConfig, initParams, modelPreset, paramLayout } from '../model';
import type { SignedDocument } from '../swarm';
import { loadCheckpoint, saveCheckpoint } from './checkpoint';
import { loadOrCreateData, type RunData } from './data';
import { loadOrCreatePeerKey, readIfExists, removeStaleTemporaries, writeFileAtomic } from './files';
import { type Ledger, openLedger } from './ledger';

export interface RunFolderOptions {
  runDir: string;
  /** Model preset for a new folder; an existing folder refuses another. Default `tiny`. */
  model?: string;
  /** Seed of the weight init for a new folder. Default 1. */
  initSeed?: number;
}

export interface RunFolder {
  dir: string;
  /** The seed's Ed25519 key (mode 600, never sent anywhere): its peer id signs everything. */
  key: PrivateKey;
  model: GptConfig;
  data: RunData;
  /** The last good checkpoint, or round 0 from the initial weights. */
  state: CoordinatorState;
  /** Checkpoints passed over on the way to `state` (missing, damaged), for the log. */
  warnings: string[];
  /** Every receipt the seed signed. */
  ledger: Ledger;
  /** Keeps the current signed weights manifest (manifest.json). */
  saveManifest(signed: SignedDocument): Promise<void>;
  /** Checkpoints the state after a round (checkpoint.json and checkpoints/round-N/). */
  saveCheckpoint(state: CoordinatorState): Promise<void>;
}

interface RunRecord {
  model: GptConfig;
  createdAt: string;
}

export async function openRunFolder(opts: RunFolderOptions): Promise<RunFolder> {
  const dir = opts.runDir;
  await removeStaleTemporaries(dir);
  const existingRun = (await readIfExists(join(dir, 'run.json'))) !== undefined;
  const { model, weights } = await loadOrCreateWeights(opts);
  const key = await loadOrCreatePeerKey(dir, existingRun);
  const parameters = paramLayout(model).total;
  const data = await loadOrCreateData(dir, model.vocab);
  const checkpoint = await loadCheckpoint(dir, parameters);
  const state: CoordinatorState = checkpoint?.state ?? freshCoordinatorState(weights);
  return {
    dir,
    key,
    model,
    data,
    state,
    warnings: checkpoint?.warnings ?? [],
    ledger: await openLedger(dir, key),
    saveManifest: (signed) => writeFileAtomic(join(dir, 'manifest.json'), JSON.stringify(signed, null, 2)),
    saveCheckpoint: (s) => saveCheckpoint(dir, s),
  };
}

/** Loads the run's model and initial weights, or creates them from the preset. */
async function loadOrCreateWeights(opts: RunFolderOptions): Promise<{ model: GptConfig; weights: Float32Array }> {
  const runPath = join(opts.runDir, 'run.json');
  const weightsPath = join(opts.runDir, 'weights.f32');
  const stored = await readIfExists(runPath);
  if (stored) {
    const run = JSON.parse(stored.toString('utf8')) as RunRecord;
    // A model the volunteers' kernels cannot run would only fail in every tab: refuse it here.
    checkKernelLimits(run.model);
    if (opts.model && JSON.stringify(modelPreset(opts.model)) !== JSON.stringify(run.model)) {
      throw new Error(
        `run folder ${opts.runDir} holds a different model (${JSON.stringify(run.model)}); pick another --run folder`,
      );
    }
    const bytes = await readIfExists(weightsPath);
    const expected = paramLayout(run.model).total * 4;
    if (!bytes || bytes.length !== expected)
      throw new Error(`run folder ${opts.runDir}: weights.f32 is missing or not ${expected} bytes`);
    return {
      model: run.model,
      weights: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)),
    };
  }
  const model = modelPreset(opts.model ?? 'tiny');
  const weights = initParams(paramLayout(model), opts.initSeed ?? 1);
  await writeFileAtomic(weightsPath, new Uint8Array(weights.buffer));
  await writeFileAtomic(
    runPath,
    JSON.stringify({ model, createdAt: new Date().toISOString() } satisfies RunRecord, null, 2),
  );
  return { model, weights };
}
