// Entry of the benchmark bundle scripts/device-bundle.sh builds (.device/bench.mjs), for a machine
// with no npm: `node .device/bench.mjs <matmul|attention|train> [--cases a,b] [--runs n] [--out dir]`,
// the same as `npm run bench -- <name> --node`.
import { BENCH_USAGE_OPTIONS, parseBenchArgs, saveResult } from './lib/cli';
import { NODE_PAGE_BENCHES, runPageBenchInNode } from './node';

const started = Date.now();
const { name, options, out } = parseBenchArgs(process.argv.slice(2));
if (!NODE_PAGE_BENCHES[name]) {
  console.error(`usage: node bench.mjs <${Object.keys(NODE_PAGE_BENCHES).join('|')}> ${BENCH_USAGE_OPTIONS}`);
  process.exit(1);
}
try {
  await saveResult(out ?? 'bench/results', `${name}-node`, await runPageBenchInNode(name, options), started);
  process.exit(0);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
}
