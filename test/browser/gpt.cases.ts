// Browser-side halves of the GPU model tests: one training step on the GPU against the CPU reference.

import type { GptConfig } from '../../src/model/config';
import { adamwStepCpu } from '../../src/model/cpu/adamw';
import { gptBackwardCpu, gptForwardCpu } from '../../src/model/cpu/gpt';
import { globalNormCpu } from '../../src/model/cpu/norm';
import { createGpuGpt } from '../../src/model/gpu-gpt';
import type { TrainHyper } from '../../src/model/hyper';
import { initParams } from '../../src/model/init';
import { decaySegments, type ParamLayout, paramLayout } from '../../src/model/layout';
import { createRandom } from '../../src/util/random';
import { type Comparison, compareArrays } from '../harness/compare';
import { errorMessages, pageGpu } from './run-kernels';

export interface ParityCase {
  config: GptConfig;
  B: number;
  T: number;
  steps: number;
  hyper: TrainHyper;
  tol: { loss: number; grads: [number, number]; params: [number, number] };
}

function randomTokens(n: number, vocab: number, seed: number): Uint32Array {
  const next = createRandom(seed);
  return Uint32Array.from({ length: n }, () => Math.floor(next() * vocab));
}

/** Tensors whose comparison is worst, so a failure says where to look. */
function worstTensors(layout: ParamLayout, got: Float32Array, want: Float32Array, atol: number, rtol: number) {
  return layout.tensors
    .map((t) => ({
      name: t.name,
      ...compareArrays(
        got.subarray(t.offset, t.offset + t.size),
        want.subarray(t.offset, t.offset + t.size),
        atol,
        rtol,
      ),
    }))
    .sort((a, b) => b.worst - a.worst)
    .slice(0, 3);
}

/**
 * `steps` training steps on the GPU and the CPU reference from the same init and batches; after
 * each, compares the loss and the gradient norm, every gradient, and the parameters after AdamW.
 * The CPU reference takes each step from the GPU's own inputs: its forward and backward at the
 * GPU's parameters before the step, and its AdamW step (with its own moments, which see the same
 * gradients) on the GPU's gradients. So every stage is checked against its own rounding: neither
 * AdamW's amplification of tiny gradient differences (see gpt.spec.ts) nor the rounding of
 * earlier steps enters a comparison.
 */
export async function trainStepParity(c: ParityCase) {
  const gpu = await pageGpu();
  const layout = paramLayout(c.config);
  const model = await createGpuGpt(gpu, layout, { B: c.B, T: c.T });
  const init = initParams(layout, 1234);
  model.loadParams(init);
  const cpu = {
    params: new Float32Array(layout.total),
    m: new Float32Array(layout.total),
    v: new Float32Array(layout.total),
  };
  let paramsBefore = init;
  const steps: {
    loss: [number, number];
    gradNorm: [number, number];
    grads: Comparison & { tensors: unknown };
    params: Comparison & { tensors: unknown };
  }[] = [];
  try {
    for (let s = 0; s < c.steps; s++) {
      const tokens = randomTokens(c.B * c.T + 1, c.config.vocab, 99 + s);
      const inputs = tokens.subarray(0, c.B * c.T);
      const targets = tokens.subarray(1);
      const gpuResult = await model.step(inputs, targets, c.hyper);
      const gpuGrads = await model.readGrads();
      const gpuParams = await model.readParams();
      cpu.params.set(paramsBefore);
      const forward = gptForwardCpu(layout, cpu.params, inputs, targets, c.B, c.T);
      const cpuGrads = gptBackwardCpu(layout, cpu.params, forward);
      adamwStepCpu(cpu, gpuGrads, {
        ...c.hyper,
        step: s + 1,
        segments: decaySegments(layout),
        maxNorm: c.hyper.gradClip,
      });
      const [ga, gr] = c.tol.grads;
      const [pa, pr] = c.tol.params;
      steps.push({
        loss: [gpuResult.loss, forward.loss!],
        gradNorm: [gpuResult.gradNorm, globalNormCpu(cpuGrads)],
        grads: {
          ...compareArrays(gpuGrads, cpuGrads, ga, gr),
          tensors: worstTensors(layout, gpuGrads, cpuGrads, ga, gr),
        },
        params: {
          ...compareArrays(gpuParams, cpu.params, pa, pr),
          tensors: worstTensors(layout, gpuParams, cpu.params, pa, pr),
        },
      });
      paramsBefore = gpuParams;
    }
    return steps;
  } finally {
    model.destroy();
  }
}

/** Configs the model must refuse, and the messages it gives. */
export async function badModelErrors(): Promise<string[]> {
  const gpu = await pageGpu();
  const attempts: (() => Promise<unknown>)[] = [
    async () => paramLayout({ vocab: 10, context: 8, layers: 1, heads: 3, width: 8 }),
    async () => paramLayout({ vocab: 10, context: 100_000, layers: 1, heads: 2, width: 8 }),
    async () =>
      createGpuGpt(gpu, paramLayout({ vocab: 10, context: 8, layers: 1, heads: 2, width: 8 }), { B: 1, T: 9 }),
    // 32768 positions × 50000 logits × 4 bytes = 6.5 GB: beyond any adapter's binding limit.
    async () =>
      createGpuGpt(gpu, paramLayout({ vocab: 50_000, context: 8, layers: 1, heads: 2, width: 8 }), { B: 4096, T: 8 }),
    async () =>
      createGpuGpt(gpu, paramLayout({ vocab: 10, context: 8, layers: 1, heads: 1, width: 256 }), { B: 1, T: 8 }),
  ];
  const messages = await errorMessages(attempts);
  return messages;
}
