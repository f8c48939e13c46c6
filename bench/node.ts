// The page benchmarks (matmul, attention, train) in Node on Dawn (src/volunteer/dawn.ts), on whatever
// adapter Vulkan offers: `npm run bench -- <name> --node` and scripts/gpu-check.sh. The same run() as
// in a page, with TensorFlow.js as the peer; onnxruntime-web fails in Node (bench/lib/peers.ts), so
// it is left out and the notes say so. The result goes to <name>-node.json. The benchmark modules
// import WGSL with Vite's `?raw`: the caller registers src/volunteer/vite-imports.ts, or the bundle
// (scripts/device-bundle.sh) has the text inlined.
import { dawnAdapter, describeAdapter } from '../src/volunteer/dawn';
import type { BenchOptions } from './lib/cli';
import type { BenchResult } from './lib/results';

/** The page benchmarks, loaded when run. */
export const NODE_PAGE_BENCHES: Record<string, () => Promise<{ run: (o: BenchOptions) => Promise<BenchResult> }>> = {
  matmul: () => import('./matmul.page'),
  attention: () => import('./attention.page'),
  train: () => import('./train.page'),
};

/** Runs page benchmark `name` here on Dawn's adapter, after printing that adapter. */
export async function runPageBenchInNode(name: string, options: BenchOptions): Promise<BenchResult> {
  const load = NODE_PAGE_BENCHES[name];
  if (!load) throw new Error(`--node runs ${Object.keys(NODE_PAGE_BENCHES).join(', ')}; not ${name}`);
  const adapter = await dawnAdapter();
  const description = describeAdapter(adapter);
  console.log(description);
  const result = await (await load()).run(options);
  const runtime = `run in Node ${process.version} on Dawn (the webgpu package) over Vulkan; ${description.replaceAll('\n  ', '; ')}`;
  return { ...result, adapter: { ...result.adapter, runtime: 'node-dawn' }, notes: [runtime, ...(result.notes ?? [])] };
}
