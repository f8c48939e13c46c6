// `npm start` / `vgpu-seed`: starts a seed (or, with --upstream, a helper seed) from the command line
// (options.ts) and prints the page URL.
import './promise-shim';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startHelper } from '../helper';
import { parseSeedCommand, USAGE } from './options';
import { startSeed } from './seed';

function stopOnSignal(what: string, stopIt: () => Promise<void>): void {
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
}

async function main(): Promise<void> {
  const command = parseSeedCommand(process.argv.slice(2));
  if (command.kind === 'help') {
    console.log(USAGE);
    return;
  }
  const app = command.options.appDir ?? 'dist';
  if (!existsSync(join(app, 'index.html'))) {
    throw new Error(`no built app in ${app}/: run \`npm run build\` first (\`npm start\` does)`);
  }
  const log = (line: string) => console.log(line);
  if (command.kind === 'helper') {
    const helper = await startHelper({ ...command.options, log });
    console.log(`\nHelper ${helper.peerId} (allow it on the root: --allow-helper ${helper.peerId})`);
    console.log(`Volunteer page: ${helper.url}\n`);
    stopOnSignal('helper', helper.stop);
    return;
  }
  const seed = await startSeed({ ...command.options, log });
  console.log(`libp2p: ${seed.info().addrs.join(' ')}`);
  console.log(`\nVolunteer page: ${seed.url}\n`);
  stopOnSignal('seed', seed.stop);
}

main().catch((e: Error) => {
  console.error(`vgpu-seed: ${e.message}`);
  process.exit(1);
});
