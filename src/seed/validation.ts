// The run's validation loss: the seed evaluates the global model on the same fixed validation
// batches after every round, on the CPU reference (the federated benchmark evaluates the same way).
import type { TokenDataset } from '../data';
import { type GptConfig, gptForwardCpu, paramLayout } from '../model';

/** Validation batches, and sequences per batch: 4 × 8 windows spread over the validation split. */
export const EVAL_BATCHES = 4;
export const EVAL_BATCH_SIZE = 8;

/** Mean loss over the fixed validation batches, each of EVAL_BATCH_SIZE sequences of `context` tokens. */
export function validationLoss(
  model: GptConfig,
  dataset: TokenDataset,
  context: number,
): (params: Float32Array) => number {
  const layout = paramLayout(model);
  const batches = dataset.evalBatches(EVAL_BATCHES, { batchSize: EVAL_BATCH_SIZE, context });
  return (params) =>
    batches.reduce(
      (sum, b) => sum + gptForwardCpu(layout, params, b.inputs, b.targets, EVAL_BATCH_SIZE, context).loss!,
      0,
    ) / EVAL_BATCHES;
}
