// The run folder: everything a run keeps on disk (the seed's key, the model and its initial weights,
// the data, the checkpoints, the current weights manifest), opened or created before anything
// listens. A folder keeps its model and its data: naming another for it is refused. A new folder is
// written only once its model and data passed every check, so a refused start leaves nothing.
import { join } from 'node:path';
import type { PrivateKey } from '@libp2p/interface';
import { type CoordinatorState, freshCoordinatorState } from '../fed';
import { checkKernelLimits, type GptConfig, initParams, modelPreset, paramLayout, validateConfig } from '../model';
import type { SignedDocument } from '../swarm';
import { loadCheckpoint, saveCheckpoint } from './checkpoint';
import { type DataRequest, loadOrCreateData, type RunData } from './data';
import { loadOrCreatePeerKey, readIfExists, removeStaleTemporaries, writeFileAtomic } from './files';
import { type Ledger, openLedger } from './ledger';

export interface RunFolderOptions {
  runDir: string;
  /** Model of a new folder: a preset's name or a shape; an existing folder refuses another. Default `tiny`. */
  model?: string | GptConfig;
  /** Seed of the weight init for a new folder. Default 1. */
  initSeed?: number;
  /** The corpus and the rounds' shape (data.ts); the Brown corpus, unchecked, without. */
  data?: DataRequest;
  /** Throws when the run's settings cannot train `model` (the seed's check of a tab's bounds). */
  admits?(model: GptConfig): void;
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
  const model = await runModel(opts);
  opts.admits?.(model);
  const data = await loadOrCreateData(dir, model.vocab, opts.data);
  const weights = await loadOrCreateWeights(opts, model);
  const key = await loadOrCreatePeerKey(dir, existingRun);
  const parameters = paramLayout(model).total;
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

/** A preset's shape, or the shape given, checked; its fields in one order, so two shapes compare as JSON. */
export function resolveModel(model: string | GptConfig): GptConfig {
  const c = typeof model === 'string' ? modelPreset(model) : model;
  const config = { vocab: c.vocab, context: c.context, layers: c.layers, heads: c.heads, width: c.width };
  validateConfig(config);
  // A model the volunteers' kernels cannot run would only fail in every tab: refuse it here.
  checkKernelLimits(config);
  return config;
}

/** The run's model: the folder's (run.json), which a different one asked for cannot replace, or the one asked for. */
async function runModel(opts: RunFolderOptions): Promise<GptConfig> {
  const stored = await readIfExists(join(opts.runDir, 'run.json'));
  const asked = opts.model === undefined ? undefined : resolveModel(opts.model);
  if (!stored) return asked ?? resolveModel('tiny');
  const model = resolveModel((JSON.parse(stored.toString('utf8')) as RunRecord).model);
  if (asked && JSON.stringify(asked) !== JSON.stringify(model))
    throw new Error(
      `run folder ${opts.runDir} holds a different model (${JSON.stringify(model)}); pick another --run folder`,
    );
  return model;
}

/** Loads the run's initial weights, or creates them (and run.json, last) for a new folder. */
async function loadOrCreateWeights(opts: RunFolderOptions, model: GptConfig): Promise<Float32Array> {
  const runPath = join(opts.runDir, 'run.json');
  const weightsPath = join(opts.runDir, 'weights.f32');
  const expected = paramLayout(model).total * 4;
  if (await readIfExists(runPath)) {
    const bytes = await readIfExists(weightsPath);
    if (!bytes || bytes.length !== expected)
      throw new Error(`run folder ${opts.runDir}: weights.f32 is missing or not ${expected} bytes`);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  }
  const weights = initParams(paramLayout(model), opts.initSeed ?? 1);
  await writeFileAtomic(weightsPath, new Uint8Array(weights.buffer));
  await writeFileAtomic(
    runPath,
    JSON.stringify({ model, createdAt: new Date().toISOString() } satisfies RunRecord, null, 2),
  );
  return weights;
}
