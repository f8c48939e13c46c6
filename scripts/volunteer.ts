// `npm run volunteer -- --seed <URL> [--gpu]`: a volunteer without a browser (src/volunteer): joins the
// seed's run, trains on the CPU reference model (or with --gpu on WebGPU through Dawn) and sends its
// updates, until Ctrl-C; prints what it does.
import '../src/seed/promise-shim';
import { parseArgs } from 'node:util';
import { type AdapterClass, adapterClassOf, creditsOf } from '../src/fed';
import type { Trainer } from '../src/trainer/trainer';
import { runNodeVolunteer, type VolunteerEvent } from '../src/volunteer';
import { registerViteImports } from '../src/volunteer/vite-imports';

const USAGE = `npm run volunteer -- --seed <URL> [--gpu]
  --seed <URL>   the seed's page URL, as \`npm start\` prints it (e.g. http://127.0.0.1:8080)
  --gpu          train on WebGPU through Dawn (the \`webgpu\` package) on the GPU Vulkan offers,
                 the tab's own kernels (default: the CPU reference model); the matmul tiles it
                 measures on that GPU are kept in $XDG_CACHE_HOME/vgpu/matmul-tiles.json
                 (~/.cache/vgpu/ by default) and reused by later runs
  --help`;

/** The tab's WebGPU trainer on Dawn and its adapter's class, after printing the adapter. */
async function gpuTrainer(): Promise<{ trainer: Trainer; adapterClass: AdapterClass }> {
  registerViteImports(); // the kernels import their WGSL as Vite does
  const [{ createDawnTrainer }, { describeAdapter }] = await Promise.all([
    import('../src/volunteer/dawn-trainer'),
    import('../src/volunteer/dawn'),
  ]);
  const { trainer, adapter } = await createDawnTrainer();
  console.log(describeAdapter(adapter));
  return { trainer, adapterClass: adapterClassOf(adapter.info) };
}

/** A log line for the events a person wants to see (not every step and piece). */
function logLine(e: VolunteerEvent): string | undefined {
  switch (e.type) {
    case 'connected':
      return `connected to the seed as ${e.peerId}`;
    case 'seed-unreachable':
      return `the seed is unreachable (${e.error}); trying again in ${Math.round((e.retryAt - Date.now()) / 1000)} s`;
    case 'seed-link':
      return e.up ? 'connected to the seed again' : 'the connection to the seed closed';
    case 'joined':
      return `joined the run: assigned from round ${e.round}`;
    case 'fetching':
      return `round ${e.round}: fetching the weights`;
    case 'delta':
      return `round ${e.round}: weights rebuilt from the last round's and a ${e.bytes}-byte delta`;
    case 'second-moment':
      return `round ${e.round}: AdamW starts from the round's second moment (${e.bytes} bytes)`;
    case 'delta-refused':
      return `round ${e.round}: its delta was not used (${e.reason}); downloading the whole weights`;
    case 'trained':
      return `round ${e.round}: trained ${e.tokens} tokens in ${(e.busyMs / 1000).toFixed(1)} s`;
    case 'sent':
      return `round ${e.round}: the seed took the update in; its receipt comes when the round closes`;
    case 'receipt': {
      const r = e.receipt;
      const impact =
        r.estimatedWh === undefined ? '' : `, busy ${r.gpuSeconds} s, about ${r.estimatedWh.toPrecision(2)} Wh`;
      return `round ${r.round}: the seed credited ${r.tokens} tokens, ${creditsOf(r.flops ?? 0).toFixed(2)} credits${impact} (receipt ${r.index} of its ledger)`;
    }
    case 'not-credited':
      return `round ${e.round}: not credited (${e.reason})`;
    case 'skipped':
      return `round ${e.round} skipped: ${e.reason}`;
    case 'send-later':
      return `round ${e.round}: the seed refused the update for now (${e.reason}); sending it again in ${Math.ceil(e.retryInMs / 1000)} s`;
    case 'error':
      return `error: ${e.message}; trying again in ${Math.round(e.retryInMs / 1000)} s`;
    case 'warning':
      return `warning: ${e.text}`;
    default:
      return undefined;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { seed: { type: 'string' }, gpu: { type: 'boolean' }, help: { type: 'boolean' } },
  });
  if (values.help) return console.log(USAGE);
  if (!values.seed) throw new Error(`--seed is required\n${USAGE}`);
  const seedUrl = new URL(values.seed).origin;
  if (typeof globalThis.WebSocket === 'undefined')
    throw new Error('this Node has no WebSocket client: use Node 22+, or Node 20 with --experimental-websocket');
  const stop = new AbortController();
  process.on('SIGINT', () => stop.abort());
  process.on('SIGTERM', () => stop.abort());
  await runNodeVolunteer({
    seedUrl,
    ...(values.gpu && (await gpuTrainer())),
    signal: stop.signal,
    onEvent: (e) => {
      const line = logLine(e);
      if (line) console.log(line);
    },
  });
}

main().catch((e: Error) => {
  console.error(`volunteer: ${e.message}`);
  process.exit(1);
});
