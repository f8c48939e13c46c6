// The seed's command line (`npm start` / `vgpu-seed`, cli.ts): its options, from flags and a run
// config file (--config), checked and turned into startSeed's or startHelper's options.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  AGGREGATION_RULES,
  type AggregationRule,
  DEFAULT_FED_SETTINGS,
  type FedSettings,
  UPDATE_FORMATS,
  type UpdateFormat,
} from '../fed';
import type { HelperOptions } from '../helper';
import { type GptConfig, MODEL_PRESETS, modelPreset } from '../model';
import type { TlsFiles } from './http';
import { type IceOptions, readTurnSecretFile } from './ice';
import type { SeedOptions } from './seed';

export const USAGE = `vgpu-seed [options]
  --config <file>    run config: a JSON object holding any option below by its name, without the
                     dashes ({"data": "corpus/", "layers": 4, "codec": "int8"}); paths in it are
                     relative to the file; options on the command line override it
  --run <dir>        run folder: peer key, weights, manifests (default: runs/default)
  --host <address>   address to listen on (default: 127.0.0.1)
  --port <n>         HTTP port for the volunteer page and /swarm.json (default: 8080)
  --p2p-port <n>     libp2p WebSocket port (default: 8081)
a new run's model and data (a run folder keeps its own, and refuses others):
  --model <preset>   ${Object.keys(MODEL_PRESETS).join(', ')} (default: tiny)
  --layers <n>, --width <n>, --heads <n>, --context <n>, --vocab <n>
                     the model's shape, each over the preset's; --vocab also sizes the tokenizer
  --data <path>      training text: a .txt file, a folder of .txt files, or a .jsonl file of
                     {"text": ...} lines (default: the Brown corpus); a tenth goes to validation
  --app <dir>        built volunteer app to serve (default: dist)
  --tls-cert <file>  PEM certificate, its chain after it (Let's Encrypt's fullchain.pem): serves the page
                     and API over https and libp2p over wss, on the same ports (default: http and ws)
  --tls-key <file>   its PEM private key (Let's Encrypt's privkey.pem); give both or neither
NAT traversal (published to tabs in /swarm.json; default: none, tabs reach each other only on one network):
  --stun <url>       STUN server, e.g. stun:stun.example.org:3478 (repeatable or comma-separated)
  --turn <url>       TURN server (coturn), e.g. turn:turn.example.org:3478 (repeatable or comma-separated)
  --turn-secret-file <file>  file holding coturn's static-auth-secret (a file: a flag shows in ps);
                     each tab gets its own credential for a day
federated rounds (defaults suit the tiny model on a software adapter):
  --steps <n>        local AdamW steps per round, DiLoCo's H (default: ${DEFAULT_FED_SETTINGS.hyper.steps})
  --batch <n>        sequences per local step (default: ${DEFAULT_FED_SETTINGS.hyper.batchSize})
  --seq-len <n>      tokens per training sequence, at most the model's context
                     (default: ${DEFAULT_FED_SETTINGS.hyper.context}, or the model's context when shorter)
  --lr <x>           inner AdamW learning rate (default: ${DEFAULT_FED_SETTINGS.hyper.lr})
  --round-seconds <n> round deadline (default: ${DEFAULT_FED_SETTINGS.roundMs / 1000})
  --aggregation <r>  ${AGGREGATION_RULES.join(', ')} (default: ${DEFAULT_FED_SETTINGS.aggregation})
  --reexecutions <n> updates the seed may re-execute per round to check them, newcomers first
                     (default: ${DEFAULT_FED_SETTINGS.reexecutionsPerRound})
  --codec <f>        ${UPDATE_FORMATS.join(', ')}: update values (default: ${DEFAULT_FED_SETTINGS.codec.format})
  --density <x>      fraction of update blocks sent, block top-k (default: ${DEFAULT_FED_SETTINGS.codec.density})
  --delta-codec <f>  ${UPDATE_FORMATS.join(', ')} or off: values of each round's change of the weights, which
                     volunteers holding the last round's download instead of the whole weights
                     (default: ${DEFAULT_FED_SETTINGS.deltaCodec?.format ?? 'off'})
  --second-moment <on|off>  rounds name AdamW's second moment for volunteers to start from, the
                     mean of the seed's own re-executions (default: ${DEFAULT_FED_SETTINGS.shareSecondMoment ? 'on' : 'off'})
energy:
  --grid <file>      grid carbon-intensity schedule published to volunteers at /grid.json, who may then
                     contribute only while their region's grid is below a threshold (repeatable): an
                     Electricity Maps data-portal CSV or API JSON, or WattTime API JSON
helper seeds (a root serves thousands of volunteers through a few helpers):
  --allow-helper <peer id>  a helper this root accepts (repeatable); a helper prints its peer id
  --upstream <url>   start a helper of the root at <url> instead of a root: it serves its own volunteers
                     (pages, pieces, signalling, their updates) and sends the root one partial aggregate
                     per round; --run then holds only its key and spool (default: runs/helper)
  --help`;

function port(value: string | undefined, fallback: number): number {
  const n = Number(value ?? fallback);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`not a port: ${value}`);
  return n;
}

function positive(name: string, value: string | undefined, fallback: number, integer = true): number {
  const n = Number(value ?? fallback);
  if (!(n > 0) || (integer && !Number.isInteger(n)))
    throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${value}`);
  return n;
}

function onOff(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value !== 'on' && value !== 'off') throw new Error(`--${name} must be on or off, got ${value}`);
  return value === 'on';
}

type Values = Record<string, string | string[] | boolean | undefined>;

function fedSettings(v: Values, model: GptConfig | undefined): FedSettings {
  const d = DEFAULT_FED_SETTINGS;
  const str = (k: string) => v[k] as string | undefined;
  const aggregation = (str('aggregation') ?? d.aggregation) as AggregationRule;
  if (!AGGREGATION_RULES.includes(aggregation))
    throw new Error(`--aggregation must be one of ${AGGREGATION_RULES.join(', ')}, got ${aggregation}`);
  const format = (str('codec') ?? d.codec.format) as UpdateFormat;
  if (!UPDATE_FORMATS.includes(format))
    throw new Error(`--codec must be one of ${UPDATE_FORMATS.join(', ')}, got ${format}`);
  const density = positive('density', str('density'), d.codec.density, false);
  if (density > 1) throw new Error('--density must be at most 1');
  const deltaFormat = str('delta-codec') ?? d.deltaCodec?.format ?? 'off';
  if (deltaFormat !== 'off' && !UPDATE_FORMATS.includes(deltaFormat as UpdateFormat))
    throw new Error(`--delta-codec must be one of ${UPDATE_FORMATS.join(', ')} or off, got ${deltaFormat}`);
  return {
    ...d,
    hyper: {
      ...d.hyper,
      steps: positive('steps', str('steps'), d.hyper.steps),
      batchSize: positive('batch', str('batch'), d.hyper.batchSize),
      context: positive('seq-len', str('seq-len'), Math.min(d.hyper.context, model?.context ?? Infinity)),
      lr: positive('lr', str('lr'), d.hyper.lr, false),
    },
    roundMs: 1000 * positive('round-seconds', str('round-seconds'), d.roundMs / 1000, false),
    aggregation,
    reexecutionsPerRound: positive('reexecutions', str('reexecutions'), d.reexecutionsPerRound),
    codec: { ...d.codec, format, density },
    deltaCodec:
      deltaFormat === 'off' ? undefined : { ...d.codec, ...d.deltaCodec, format: deltaFormat as UpdateFormat },
    shareSecondMoment: onOff('second-moment', str('second-moment'), d.shareSecondMoment === true),
  };
}

const SHAPE_FIELDS = ['layers', 'width', 'heads', 'context', 'vocab'] as const;

/** The model asked for: --model's preset with the shape flags over it; undefined when none is given. */
function modelOf(v: Values): GptConfig | undefined {
  const given = SHAPE_FIELDS.filter((k) => v[k] !== undefined);
  if (v.model === undefined && given.length === 0) return undefined;
  const model = modelPreset((v.model as string | undefined) ?? 'tiny');
  for (const k of given) model[k] = positive(k, v[k] as string, 0);
  return model;
}

/** Options whose values are paths: a run config's are relative to the config file. */
const PATH_OPTIONS = ['run', 'app', 'data', 'tls-cert', 'tls-key', 'turn-secret-file', 'grid'];

/**
 * The options of a run config file (--config), as parseArgs would give them: each key an option's
 * name, each value a string, number or boolean (a list for repeatable ones). Unknown names and other
 * values are refused, naming the key.
 */
function configValues(file: string, options: Record<string, { type: string; multiple?: boolean }>): Values {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`run config ${file}: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error(`run config ${file}: not a JSON object of options`);
  const values: Values = {};
  for (const [key, value] of Object.entries(json)) {
    const option = options[key];
    if (!option || key === 'config' || key === 'help') throw new Error(`run config ${file}: unknown option "${key}"`);
    const scalar = (x: unknown) => {
      if (option.type === 'boolean' && typeof x === 'boolean') return x;
      if (option.type === 'string' && (typeof x === 'string' || typeof x === 'number')) {
        const text = String(x);
        return PATH_OPTIONS.includes(key) ? resolve(dirname(file), text) : text;
      }
      throw new Error(
        `run config ${file}: "${key}" must be ${option.type === 'boolean' ? 'true or false' : 'a string or a number'}`,
      );
    };
    values[key] = option.multiple
      ? (Array.isArray(value) ? value : [value]).map((x) => scalar(x) as string)
      : scalar(value);
  }
  return values;
}

/** --stun/--turn values: each flag repeatable, each value a comma-separated list. */
function urlList(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',').map((u) => u.trim())).filter((u) => u !== '');
}

function iceOptions(v: { stun?: string[]; turn?: string[]; 'turn-secret-file'?: string }): IceOptions {
  const file = v['turn-secret-file'];
  return {
    stun: urlList(v.stun),
    turn: urlList(v.turn),
    turnSecret: file === undefined ? undefined : readTurnSecretFile(file),
  };
}

function tlsFiles(certFile: string | undefined, keyFile: string | undefined): TlsFiles | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined)
    throw new Error('--tls-cert and --tls-key go together: give both (https and wss) or neither (http and ws)');
  return { certFile, keyFile };
}

const OPTIONS = {
  config: { type: 'string' },
  run: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'p2p-port': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  model: { type: 'string' },
  layers: { type: 'string' },
  width: { type: 'string' },
  heads: { type: 'string' },
  context: { type: 'string' },
  vocab: { type: 'string' },
  data: { type: 'string' },
  app: { type: 'string' },
  steps: { type: 'string' },
  batch: { type: 'string' },
  'seq-len': { type: 'string' },
  lr: { type: 'string' },
  'round-seconds': { type: 'string' },
  'delta-codec': { type: 'string' },
  'second-moment': { type: 'string' },
  aggregation: { type: 'string' },
  reexecutions: { type: 'string' },
  codec: { type: 'string' },
  density: { type: 'string' },
  stun: { type: 'string', multiple: true },
  turn: { type: 'string', multiple: true },
  'turn-secret-file': { type: 'string' },
  grid: { type: 'string', multiple: true },
  'allow-helper': { type: 'string', multiple: true },
  upstream: { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** What the command line asks for: the usage text, a helper seed, or a seed. */
export type SeedCommand =
  | { kind: 'help' }
  | { kind: 'helper'; options: Omit<HelperOptions, 'log'> }
  | { kind: 'seed'; options: Omit<SeedOptions, 'log'> };

/** Parses the seed's arguments (and the run config they name); throws a clear error for a bad one. */
export function parseSeedCommand(args: string[]): SeedCommand {
  const { values: flags } = parseArgs({ args, options: OPTIONS });
  if (flags.help) return { kind: 'help' };
  const values = {
    host: '127.0.0.1',
    app: 'dist',
    ...(flags.config === undefined ? {} : configValues(flags.config, OPTIONS)),
    ...flags,
  } as typeof flags & { host: string; app: string };
  const common = {
    host: values.host,
    httpPort: port(values.port, 8080),
    p2pPort: port(values['p2p-port'], 8081),
    appDir: values.app,
    tls: tlsFiles(values['tls-cert'], values['tls-key']),
  };
  if (values.upstream !== undefined)
    return { kind: 'helper', options: { ...common, runDir: values.run ?? 'runs/helper', upstream: values.upstream } };
  const model = modelOf(values);
  return {
    kind: 'seed',
    options: {
      ...common,
      runDir: values.run ?? 'runs/default',
      model,
      data: values.data,
      fed: fedSettings(values, model),
      ice: iceOptions(values),
      helpers: values['allow-helper'],
      grid: values.grid,
    },
  };
}
