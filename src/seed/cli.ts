// `npm start` / `vgpu-seed`: starts a seed (or, with --upstream, a helper seed) from the command line
// and prints the page URL.
import './promise-shim';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  AGGREGATION_RULES,
  type AggregationRule,
  DEFAULT_FED_SETTINGS,
  type FedSettings,
  UPDATE_FORMATS,
  type UpdateFormat,
} from '../fed';
import { startHelper } from '../helper';
import { MODEL_PRESETS } from '../model';
import type { TlsFiles } from './http';
import { type IceOptions, readTurnSecretFile } from './ice';
import { startSeed } from './seed';

const USAGE = `vgpu-seed [options]
  --run <dir>        run folder: peer key, weights, manifests (default: runs/default)
  --host <address>   address to listen on (default: 127.0.0.1)
  --port <n>         HTTP port for the volunteer page and /swarm.json (default: 8080)
  --p2p-port <n>     libp2p WebSocket port (default: 8081)
  --model <preset>   model of a new run: ${Object.keys(MODEL_PRESETS).join(', ')} (default: tiny)
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
  --context <n>      tokens per sequence (default: ${DEFAULT_FED_SETTINGS.hyper.context})
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

function fedSettings(v: Record<string, string | string[] | boolean | undefined>): FedSettings {
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
      context: positive('context', str('context'), d.hyper.context),
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

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      run: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      'p2p-port': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      model: { type: 'string' },
      app: { type: 'string', default: 'dist' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      context: { type: 'string' },
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
      'allow-helper': { type: 'string', multiple: true },
      upstream: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const tls = tlsFiles(values['tls-cert'], values['tls-key']);
  if (!existsSync(join(values.app, 'index.html'))) {
    throw new Error(`no built app in ${values.app}/: run \`npm run build\` first (\`npm start\` does)`);
  }
  const stopOnSignal = (what: string, stopIt: () => Promise<void>) => {
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      console.log(`stopping the ${what}...`);
      await stopIt();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop());
    process.on('SIGTERM', () => void stop());
  };
  if (values.upstream !== undefined) {
    const helper = await startHelper({
      runDir: values.run ?? 'runs/helper',
      upstream: values.upstream,
      host: values.host,
      httpPort: port(values.port, 8080),
      p2pPort: port(values['p2p-port'], 8081),
      appDir: values.app,
      tls,
      log: (line) => console.log(line),
    });
    console.log(`\nHelper ${helper.peerId} (allow it on the root: --allow-helper ${helper.peerId})`);
    console.log(`Volunteer page: ${helper.url}\n`);
    stopOnSignal('helper', helper.stop);
    return;
  }
  const seed = await startSeed({
    runDir: values.run ?? 'runs/default',
    host: values.host,
    httpPort: port(values.port, 8080),
    p2pPort: port(values['p2p-port'], 8081),
    model: values.model,
    appDir: values.app,
    fed: fedSettings(values),
    tls,
    ice: iceOptions(values),
    helpers: values['allow-helper'],
    log: (line) => console.log(line),
  });
  console.log(`libp2p: ${seed.info().addrs.join(' ')}`);
  console.log(`\nVolunteer page: ${seed.url}\n`);
  stopOnSignal('seed', seed.stop);
}

main().catch((e: Error) => {
  console.error(`vgpu-seed: ${e.message}`);
  process.exit(1);
});
