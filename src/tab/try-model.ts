// "Try the model": the tab's copy of the global weights, exported as ONNX by our own writer and
// run with onnxruntime-web (WebGPU execution provider, wasm when WebGPU is missing) to continue a
// prompt. onnxruntime-web loads only when the volunteer asks, so the page stays light.
import { Tokenizer, type TokenizerJson } from '../data';
import { paramLayout, sampleToken } from '../model';
import { exportGptOnnx, GPT_ONNX_INPUT, GPT_ONNX_OUTPUT } from '../onnx';
import { MAX_SEED_JSON_BYTES, type SwarmClient } from '../swarm';
import { createRandom } from '../util/random';
import { fetchJsonAtMost } from '../util/read-at-most';
import { readSeedInfo } from './connect';

/** Where onnxruntime-web's wasm files are: Vite serves node_modules in development, the seed mounts them at /ort/. */
const ORT_WASM_PATH = import.meta.env?.DEV ? '/node_modules/onnxruntime-web/dist/' : '/ort/';
const NEW_TOKENS = 24;
const TEMPERATURE = 0.8;

export interface TryResult {
  text: string;
  provider: string;
  onnxBytes: number;
}

/** Exports the tab's current weights and continues `prompt`. */
export async function tryModel(
  client: SwarmClient | undefined,
  prompt: string,
  seedUrl: string,
): Promise<TryResult & { onnx: Uint8Array }> {
  if (!client) throw new Error('not connected to the seed yet');
  const [newest] = (await readSeedInfo(seedUrl)).manifests;
  if (!newest) throw new Error('the seed serves no weights yet');
  const { weights, manifest } = await client.download(newest);
  const tokenizer = Tokenizer.fromJSON(
    (await fetchJsonAtMost(new URL('/data/tokenizer.json', seedUrl), MAX_SEED_JSON_BYTES)) as TokenizerJson,
  );
  const layout = paramLayout(manifest.value.model);
  const onnx = exportGptOnnx(layout, weights, 'dynamic');
  const ort = await import('onnxruntime-web/webgpu');
  ort.env.wasm.wasmPaths = ORT_WASM_PATH;
  ort.env.logLevel = 'error';
  let provider = 'webgpu';
  const session = await ort.InferenceSession.create(onnx, { executionProviders: ['webgpu'] }).catch(() => {
    provider = 'wasm';
    return ort.InferenceSession.create(onnx, { executionProviders: ['wasm'] });
  });
  try {
    const tokens = Array.from(tokenizer.encode(prompt || ' '));
    const random = createRandom(1);
    const context = manifest.value.model.context;
    const vocab = manifest.value.model.vocab;
    for (let i = 0; i < NEW_TOKENS; i++) {
      const window = tokens.slice(-context);
      const input = new ort.Tensor('int64', BigInt64Array.from(window, BigInt), [1, window.length]);
      const out = await session.run({ [GPT_ONNX_INPUT]: input });
      const logits = out[GPT_ONNX_OUTPUT]!.data as Float32Array;
      tokens.push(
        sampleToken(logits.subarray((window.length - 1) * vocab, window.length * vocab), TEMPERATURE, random),
      );
    }
    return { text: tokenizer.decode(tokens), provider, onnxBytes: onnx.length, onnx };
  } finally {
    await session.release();
  }
}
