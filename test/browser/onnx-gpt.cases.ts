// Browser-side half of the ONNX export test: our GPT exported with src/onnx, run by
// onnxruntime-web (WebGPU execution provider, falling back to wasm), against gptForwardCpu.
import * as ort from 'onnxruntime-web/webgpu';
import type { GptConfig } from '../../src/model/config';
import { gptForwardCpu } from '../../src/model/cpu/gpt';
import { initParams } from '../../src/model/init';
import { type ParamLayout, paramLayout, view } from '../../src/model/layout';
import { exportGptOnnx, GPT_ONNX_INPUT, GPT_ONNX_OUTPUT } from '../../src/onnx';
import { createRandom } from '../../src/util/random';
import { type Comparison, compareArrays } from '../harness/compare';

/** Where Vite serves onnxruntime-web's wasm files (as bench/lib/peers.ts). */
const ORT_WASM_PATH = '/node_modules/onnxruntime-web/dist/';

export interface OnnxGptCase {
  config: GptConfig;
  seed: number;
  /** Sequence length of the fixed-shape export. */
  T: number;
  /** Lengths run through the dynamic-length export, one session. */
  dynamicLengths: number[];
  atol: number;
  rtol: number;
}

export interface OnnxGptRun {
  model: string;
  T: number;
  dims: number[];
  comparison: Comparison;
  /** Largest |logit| of the CPU reference: the scale the errors are measured against. */
  maxAbsLogit: number;
  /** Per position: the argmax token of onnxruntime's logits and of the CPU reference's. */
  argmaxOrt: number[];
  argmaxCpu: number[];
}

export interface OnnxGptResult {
  /** 'webgpu' when onnxruntime's WebGPU execution provider came up and was given nodes, else 'wasm'. */
  ep: 'webgpu' | 'wasm';
  /** Why WebGPU did not come up, from onnxruntime's warning; null when it did. */
  fallbackReason: string | null;
  /** onnxruntime's node placement lines for the two sessions, e.g. "All nodes placed on [WebGpuExecutionProvider]. Number of nodes: 79". */
  placement: string[];
  modelBytes: number;
  runs: OnnxGptRun[];
  /** Milliseconds: session creation (both models) and the runs. */
  createMs: number;
  runMs: number;
}

/**
 * Random weights that exercise every tensor: initParams' matrices scaled up ×10 (std 0.2, so
 * attention is far from uniform and logits far apart), every bias random, LayerNorm gains
 * around 1 and biases around 0 but not exactly.
 */
function testParams(layout: ParamLayout, seed: number): Float32Array {
  const params = initParams(layout, seed);
  const next = createRandom(seed + 1);
  const uniform = () => next() * 2 - 1;
  const { layers, lnf } = layout.params;
  const norms = [...layers.flatMap((l) => [l.ln1, l.ln2]), lnf];
  const linears = layers.flatMap((l) => [l.attn.qkv, l.attn.proj, l.mlp.fc, l.mlp.proj]);
  const gains = new Set(norms.map((n) => n.g));
  const biases = new Set([...norms, ...linears].map((t) => t.b));
  for (const t of layout.tensors) {
    const values = view(params, t);
    if (gains.has(t)) for (let i = 0; i < values.length; i++) values[i] = 1 + 0.5 * uniform();
    else if (biases.has(t)) for (let i = 0; i < values.length; i++) values[i] = 0.2 * uniform();
    else for (let i = 0; i < values.length; i++) values[i] = values[i]! * 10;
  }
  return params;
}

function argmaxRows(logits: Float32Array, rows: number, V: number): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[r * V + v]! > logits[r * V + best]!) best = v;
    return best;
  });
}

/** Exports the model at a fixed T and with a dynamic T, runs both in onnxruntime-web and compares with the CPU forward pass. */
export async function onnxGptCase(c: OnnxGptCase): Promise<OnnxGptResult> {
  ort.env.wasm.wasmPaths = ORT_WASM_PATH;
  ort.env.wasm.numThreads = 1;
  // onnxruntime's global log level is fixed when it first initialises (once per page): verbose, so that the
  // sessions' node placement reaches the console (each test opens a fresh page).
  ort.env.logLevel = 'verbose';
  const layout = paramLayout(c.config);
  const params = testParams(layout, c.seed);
  const V = c.config.vocab;
  const next = createRandom(c.seed + 2);
  const longest = Math.max(c.T, ...c.dynamicLengths);
  const allTokens = Uint32Array.from({ length: longest }, () => Math.floor(next() * V));

  const fixed = exportGptOnnx(layout, params, c.T);
  const dynamic = exportGptOnnx(layout, params, 'dynamic');
  // Verbose session logs carry onnxruntime's node placement ("… placed on [WebGpuExecutionProvider] …");
  // its warnings say when an execution provider was dropped. Both are collected while the sessions are created.
  const options: ort.InferenceSession.SessionOptions = { executionProviders: ['webgpu', 'wasm'], logSeverityLevel: 0 };
  const logs: string[] = [];
  const methods = ['log', 'info', 'warn', 'error'] as const;
  const original = methods.map((m) => console[m]);
  methods.forEach((m, i) => {
    console[m] = (...args: unknown[]) => {
      logs.push(args.map(String).join(' '));
      original[i]!.apply(console, args);
    };
  });
  const created = performance.now();
  const sessions: [string, ort.InferenceSession, number[]][] = [];
  try {
    sessions.push([`fixed T=${c.T}`, await ort.InferenceSession.create(fixed, options), [c.T]]);
    sessions.push(['dynamic T', await ort.InferenceSession.create(dynamic, options), c.dynamicLengths]);
  } finally {
    for (const [i, m] of methods.entries()) console[m] = original[i]!;
  }
  const createMs = performance.now() - created;
  const placement = logs
    .filter((l) => /placed on \[/.test(l))
    .map((l) => l.replace(/^.*VerifyEachNodeIsAssignedToAnEp\]\s*/, ''));
  const fallback = logs.find((l) => l.includes('removing requested execution provider "webgpu"'));
  // onnxruntime sets env.webgpu.device once its WebGPU execution provider has created its device.
  const device: unknown = await ort.env.webgpu.device;
  const onWebGpu =
    device !== undefined && fallback === undefined && placement.some((l) => l.includes('WebGpuExecutionProvider'));

  const runs: OnnxGptRun[] = [];
  const started = performance.now();
  for (const [model, session, lengths] of sessions) {
    for (const T of lengths) {
      const tokens = allTokens.subarray(0, T);
      const feeds = {
        [GPT_ONNX_INPUT]: new ort.Tensor(
          'int64',
          BigInt64Array.from(tokens, (t) => BigInt(t)),
          [1, T],
        ),
      };
      const output = (await session.run(feeds))[GPT_ONNX_OUTPUT]!;
      const got = (await output.getData()) as Float32Array;
      const want = gptForwardCpu(layout, params, tokens, undefined, 1, T).logits;
      runs.push({
        model,
        T,
        dims: [...output.dims],
        comparison: compareArrays(got, want, c.atol, c.rtol),
        maxAbsLogit: want.reduce((m, x) => Math.max(m, Math.abs(x)), 0),
        argmaxOrt: argmaxRows(got, T, V),
        argmaxCpu: argmaxRows(want, T, V),
      });
      output.dispose();
    }
    await session.release();
  }
  return {
    ep: onWebGpu ? 'webgpu' : 'wasm',
    fallbackReason: onWebGpu ? null : (fallback ?? 'no WebGPU device or no node placed on WebGpuExecutionProvider'),
    placement,
    modelBytes: fixed.length,
    runs,
    createMs,
    runMs: performance.now() - started,
  };
}
