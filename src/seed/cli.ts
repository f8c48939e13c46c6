// `npm start` / `vgpu-seed`: starts a seed from the command line and prints the page URL.
import './promise-shim';
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL_PRESETS } from '../model';
import { startSeed } from './seed';

const USAGE = `vgpu-seed [options]
  --run <dir>        run folder: peer key, weights, manifests (default: runs/default)
  --host <address>   address to listen on (default: 127.0.0.1)
  --port <n>         HTTP port for the volunteer page and /swarm.json (default: 8080)
  --p2p-port <n>     libp2p WebSocket port (default: 8081)
  --model <preset>   model of a new run: ${Object.keys(MODEL_PRESETS).join(', ')} (default: tiny)
  --app <dir>        built volunteer app to serve (default: dist)
  --help`;

function port(value: string | undefined, fallback: number): number {
  const n = Number(value ?? fallback);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`not a port: ${value}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      run: { type: 'string', default: 'runs/default' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      'p2p-port': { type: 'string' },
      model: { type: 'string' },
      app: { type: 'string', default: 'dist' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!existsSync(join(values.app, 'index.html'))) {
    throw new Error(`no built app in ${values.app}/: run \`npm run build\` first (\`npm start\` does)`);
  }
  const seed = await startSeed({
    runDir: values.run, host: values.host, httpPort: port(values.port, 8080), p2pPort: port(values['p2p-port'], 8081),
    model: values.model, appDir: values.app, log: (line) => console.log(line),
  });
  console.log(`libp2p: ${seed.info().addrs.join(' ')}`);
  console.log(`\nVolunteer page: ${seed.url}\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('stopping the seed...');
    await seed.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((e: Error) => {
  console.error(`vgpu-seed: ${e.message}`);
  process.exit(1);
});
