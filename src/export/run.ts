// A run folder read for export and sampling. Nothing here writes: the seed may be running on the
// folder, and a finished run must stay as it was (openRunFolder creates what is missing; not this).
import { join } from 'node:path';
import { Tokenizer, type TokenizerJson } from '../data';
import { type GptConfig, type ParamLayout, paramLayout } from '../model';
import { readLatestCheckpoint, readRoundCheckpoint } from '../seed/checkpoint';
import { readIfExists } from '../seed/files';

/** The weights of one round of a run. */
export interface RunWeights {
  layout: ParamLayout;
  /** Rounds the weights have been through: 0 is the run's initial weights (weights.f32). */
  round: number;
  /** The flat parameter vector (src/model/layout.ts). */
  params: Float32Array;
  /** Checkpoints passed over (missing, damaged) on the way to the latest good one. */
  warnings: string[];
}

/** The file at `path`, or an error naming it when it is missing. */
async function readRequired(path: string, what: string): Promise<Buffer> {
  const bytes = await readIfExists(path);
  if (!bytes) throw new Error(`${path} is missing (${what})`);
  return bytes;
}

/** What `read` returns, or its error as "`path` is damaged: …". */
function orDamaged<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    throw new Error(`${path} is damaged: ${(e as Error).message}`);
  }
}

/** The run's model, from run.json. */
async function readRunLayout(runDir: string): Promise<ParamLayout> {
  const path = join(runDir, 'run.json');
  const bytes = await readRequired(path, `is ${runDir} a run folder?`);
  return orDamaged(path, () => {
    const run = JSON.parse(bytes.toString('utf8')) as { model?: GptConfig } | null;
    if (!run?.model) throw new Error('it names no model');
    return paramLayout(run.model);
  });
}

/** The run's initial weights (round 0). */
async function readInitialWeights(runDir: string, layout: ParamLayout): Promise<Float32Array> {
  const path = join(runDir, 'weights.f32');
  const bytes = await readRequired(path, 'the initial weights');
  if (bytes.length !== 4 * layout.total) throw new Error(`${path} is damaged: not ${layout.total} floats`);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

/**
 * The weights after round `round` (checkpoints/round-N/, or weights.f32 for 0); without `round`,
 * the latest good checkpoint, or the initial weights when no round is checkpointed yet. Throws,
 * naming the path, when the folder or the round is missing or damaged.
 */
export async function readRunWeights(runDir: string, round?: number): Promise<RunWeights> {
  const layout = await readRunLayout(runDir);
  if (round === 0) return { layout, round, params: await readInitialWeights(runDir, layout), warnings: [] };
  if (round !== undefined) {
    const state = await readRoundCheckpoint(runDir, round, layout.total);
    return { layout, round, params: state.params, warnings: [] };
  }
  const latest = await readLatestCheckpoint(runDir, layout.total);
  if (!latest) return { layout, round: 0, params: await readInitialWeights(runDir, layout), warnings: [] };
  return { layout, round: latest.state.round, params: latest.state.params, warnings: latest.warnings };
}

/** The run's tokenizer (data/tokenizer.json), checked against the model's vocabulary. */
export async function readRunTokenizer(runDir: string, layout: ParamLayout): Promise<Tokenizer> {
  const path = join(runDir, 'data', 'tokenizer.json');
  const bytes = await readRequired(path, 'the tokenizer');
  const tokenizer = orDamaged(path, () => Tokenizer.fromJSON(JSON.parse(bytes.toString('utf8')) as TokenizerJson));
  if (tokenizer.vocabSize !== layout.config.vocab)
    throw new Error(`${path} has ${tokenizer.vocabSize} tokens, the model ${layout.config.vocab}`);
  return tokenizer;
}
