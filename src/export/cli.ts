// `npm run export` and `npm run sample` (scripts/export.ts, scripts/sample.ts): the commands, each
// returning its exit code, so tests run them in-process as well as as processes.
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { writeFileAtomic } from '../seed/files';
import type { Printer } from '../util/printer';
import { EXPORT_FORMATS, type ExportFormat, encodeWeights } from './formats';
import { readRunTokenizer, readRunWeights } from './run';
import { continueTokens, DEFAULT_SAMPLE_SETTINGS } from './sample';

const RUN_FLAGS = `  --run <dir>        the seed's run folder; read, never written
  --round <n>        the weights after round n (checkpoints/round-n; 0: the initial weights)
                     (default: the latest good checkpoint)`;

const EXPORT_USAGE = `npm run export -- --run <dir> --format ${EXPORT_FORMATS.join('|')} --out <file> [--round <n>]
${RUN_FLAGS}
  --format <f>       onnx: the whole model (input tokens int64 [1, T], output logits float32 [1, T, vocab]);
                     safetensors: the weights by tensor name, the model's config in the metadata
                     (README: "The model out" maps the names to GPT-2's)
  --out <file>       the file to write: whole or not at all (a temporary file renamed into place)
  --help`;

const D = DEFAULT_SAMPLE_SETTINGS;
const SAMPLE_USAGE = `npm run sample -- --run <dir> --prompt <text> [--tokens ${D.tokens}] [--temperature ${D.temperature}] [--seed ${D.seed}] [--round <n>]
  continues the prompt on the CPU reference model and prints the prompt with its continuation
${RUN_FLAGS}
  --prompt <text>    the text to continue
  --tokens <n>       new tokens (default: ${D.tokens})
  --temperature <x>  0: always the most likely token (greedy); above 0: draws from softmax(logits / x),
                     reproducible with --seed (default: ${D.temperature})
  --seed <n>         seed of the draws (default: ${D.seed})
  --help`;

/** A command line that is wrong: the usage follows the message. */
class UsageError extends Error {}

const RUN_OPTIONS = { run: { type: 'string' }, round: { type: 'string' }, help: { type: 'boolean' } } as const;

/** The flags of `argv`, any parse error a UsageError. */
function parseFlags<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Runs `body`; prints its error as `name: …` (with the usage when the command line is wrong). */
async function runCommand(name: string, usage: string, print: Printer, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return 0;
  } catch (e) {
    print.error(`${name}: ${(e as Error).message}${e instanceof UsageError ? `\n${usage}` : ''}`);
    return 1;
  }
}

/** A flag's value as an integer ≥ `min`. */
function integerFlag(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min)
    throw new UsageError(`--${flag} must be an integer ≥ ${min}, got ${value}`);
  return n;
}

/** The value of a flag the command needs. */
function required(flag: string, value: string | undefined): string {
  if (value === undefined) throw new UsageError(`--${flag} is required`);
  return value;
}

/** The weights of `run` that --round names; prints the checkpoints passed over on the way. */
async function readFlaggedWeights(name: string, run: string, round: string | undefined, print: Printer) {
  const weights = await readRunWeights(run, round === undefined ? undefined : integerFlag('round', round, 0));
  for (const warning of weights.warnings) print.error(`${name}: warning: ${warning}`);
  return weights;
}

/** Whether `path` is the folder `dir` or inside it. */
function isWithin(dir: string, path: string): boolean {
  const fromDir = relative(resolve(dir), resolve(path));
  return fromDir === '' || !(isAbsolute(fromDir) || fromDir === '..' || fromDir.startsWith(`..${sep}`));
}

/** "round 3" or "round 0 (the initial weights)". */
const roundName = (round: number) => `round ${round}${round === 0 ? ' (the initial weights)' : ''}`;

export function exportCommand(argv: string[], print: Printer = console): Promise<number> {
  return runCommand('export', EXPORT_USAGE, print, async () => {
    const flags = parseFlags(argv, { ...RUN_OPTIONS, format: { type: 'string' }, out: { type: 'string' } });
    if (flags.help) return print.log(EXPORT_USAGE);
    const run = required('run', flags.run);
    const format = required('format', flags.format) as ExportFormat;
    if (!EXPORT_FORMATS.includes(format))
      throw new UsageError(`--format must be one of ${EXPORT_FORMATS.join(', ')}, got ${format}`);
    const out = required('out', flags.out);
    if (isWithin(run, out))
      throw new UsageError(`--out ${out} is inside the run folder ${run}, which export never writes into`);
    const weights = await readFlaggedWeights('export', run, flags.round, print);
    const bytes = encodeWeights(weights, format);
    await writeFileAtomic(out, bytes);
    const { layers, width, vocab } = weights.layout.config;
    print.log(
      `${out}: ${format}, ${roundName(weights.round)} of ${run}, ${layers} layers × ${width} wide, vocabulary ${vocab}, ${bytes.length} bytes`,
    );
  });
}

export function sampleCommand(argv: string[], print: Printer = console): Promise<number> {
  return runCommand('sample', SAMPLE_USAGE, print, async () => {
    const flags = parseFlags(argv, {
      ...RUN_OPTIONS,
      prompt: { type: 'string' },
      tokens: { type: 'string' },
      temperature: { type: 'string' },
      seed: { type: 'string' },
    });
    if (flags.help) return print.log(SAMPLE_USAGE);
    const run = required('run', flags.run);
    const prompt = required('prompt', flags.prompt);
    if (prompt === '') throw new UsageError('--prompt is empty: give the text to continue');
    const temperature = Number(flags.temperature ?? D.temperature);
    if (!(temperature >= 0) || !Number.isFinite(temperature))
      throw new UsageError(`--temperature must be a number ≥ 0, got ${flags.temperature}`);
    const settings = {
      tokens: flags.tokens === undefined ? D.tokens : integerFlag('tokens', flags.tokens, 1),
      temperature,
      seed: flags.seed === undefined ? D.seed : integerFlag('seed', flags.seed, 0),
    };
    const weights = await readFlaggedWeights('sample', run, flags.round, print);
    const tokenizer = await readRunTokenizer(run, weights.layout);
    const how = temperature === 0 ? 'greedy' : `temperature ${temperature}, seed ${settings.seed}`;
    print.error(`sample: ${roundName(weights.round)} of ${run}, ${settings.tokens} new tokens, ${how}`);
    const promptTokens = tokenizer.encode(prompt);
    const added = continueTokens(weights.layout, weights.params, promptTokens, settings);
    print.log(tokenizer.decode([...promptTokens, ...added]));
  });
}
