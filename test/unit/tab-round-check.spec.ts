// A tab's bounds on its seed's rounds (src/tab/round-check.ts, limits in src/tab/limits.ts): a
// default round of every preset passes; each bound passes at its value and refuses just past it,
// naming the field, the value and the bound; admitRound refuses weights past the swarm's bounds.
import '../../src/seed/promise-shim';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import { DEFAULT_FED_SETTINGS, MAX_UPDATE_BYTES, type RoundManifest } from '../../src/fed';
import { type GptConfig, initParams, LAYOUT_VERSION, MODEL_PRESETS, paramLayout } from '../../src/model';
import { trainingGpuNeeds } from '../../src/model/gpu-fit';
import {
  buildManifest,
  MAX_MODEL_BYTES,
  PIECE_BYTES,
  SignatureError,
  signDocument,
  signManifest,
  type WeightsManifest,
} from '../../src/swarm';
import {
  admitRound,
  checkRound,
  MAX_MODEL_LAYERS,
  MAX_ROUND_AHEAD_MS,
  MAX_ROUND_BATCH_SIZE,
  MAX_ROUND_DATA_SEED,
  MAX_ROUND_LR,
  MAX_ROUND_MAX_NORM,
  MAX_ROUND_SHARDS,
  MAX_ROUND_STEPS,
  MAX_ROUND_WEIGHT_DECAY,
  MAX_TRAINING_GPU_BYTES,
  REQUIRED_LIMITS,
  RoundRefusedError,
} from '../../src/tab';

const NOW = Date.UTC(2026, 0, 1);
const TINY: GptConfig = { ...MODEL_PRESETS.tiny };
const HEX = 'ab'.repeat(32);

/** The weights manifest of `model` as checkRound reads it (its size and shape; hashes do not matter here). */
function weightsOf(model: GptConfig, totalBytes = paramLayout(model).total * 4): WeightsManifest {
  return {
    kind: 'vgpu/weights',
    version: 1,
    name: 'test',
    model,
    layoutVersion: LAYOUT_VERSION,
    totalBytes,
    pieceBytes: PIECE_BYTES,
    pieces: [],
    sha256: HEX,
  };
}

/** The default run's round, with `change` over it. */
function round(change: Partial<RoundManifest> = {}): RoundManifest {
  return {
    kind: 'vgpu/round',
    version: 2,
    round: 7,
    weights: { body: '', signer: '', signature: '' },
    weightsId: HEX,
    data: { train: HEX, validation: HEX },
    hyper: DEFAULT_FED_SETTINGS.hyper,
    shardCount: DEFAULT_FED_SETTINGS.shardCount,
    assignments: {},
    deadline: NOW + DEFAULT_FED_SETTINGS.roundMs,
    codec: DEFAULT_FED_SETTINGS.codec,
    maxNorm: 100,
    ledger: { receipts: 0, head: HEX },
    ...change,
  };
}

const hyper = (change: Partial<RoundManifest['hyper']>) =>
  round({ hyper: { ...DEFAULT_FED_SETTINGS.hyper, ...change } });

/** Why checkRound refuses the round, or undefined when it takes it. */
function refusal(r: RoundManifest, weights: WeightsManifest = weightsOf(TINY)): string | undefined {
  try {
    checkRound(r, weights, NOW);
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(RoundRefusedError);
    expect((e as RoundRefusedError).round).toBe(r.round);
    expect((e as Error).message).toBe(`round ${r.round} refused: ${(e as RoundRefusedError).reason}`);
    return (e as RoundRefusedError).reason;
  }
}

test('a default round of every preset passes', () => {
  for (const [name, model] of Object.entries(MODEL_PRESETS))
    expect(refusal(round(), weightsOf(model)), name).toBeUndefined();
});

test('each setting passes at its bound and is refused just past it, naming the field, the value and the bound', () => {
  const deep = (layers: number): GptConfig => ({ vocab: 64, context: 16, layers, heads: 1, width: 16 });
  const cases: [string, [RoundManifest, WeightsManifest?], [RoundManifest, WeightsManifest?], string][] = [
    [
      'steps',
      [hyper({ steps: MAX_ROUND_STEPS })],
      [hyper({ steps: MAX_ROUND_STEPS + 1 })],
      `hyper.steps is ${MAX_ROUND_STEPS + 1}, over the bound of ${MAX_ROUND_STEPS}`,
    ],
    [
      'batchSize',
      [hyper({ batchSize: MAX_ROUND_BATCH_SIZE })],
      [hyper({ batchSize: MAX_ROUND_BATCH_SIZE + 1 })],
      `hyper.batchSize is ${MAX_ROUND_BATCH_SIZE + 1}, over the bound of ${MAX_ROUND_BATCH_SIZE}`,
    ],
    [
      "context (the model's)",
      [hyper({ context: TINY.context })],
      [hyper({ context: TINY.context + 1 })],
      `hyper.context is ${TINY.context + 1}, over the bound of ${TINY.context} (the model's context)`,
    ],
    [
      'lr',
      [hyper({ lr: MAX_ROUND_LR })],
      [hyper({ lr: MAX_ROUND_LR + Number.EPSILON })],
      `hyper.lr is ${MAX_ROUND_LR + Number.EPSILON}, over the bound of ${MAX_ROUND_LR}`,
    ],
    [
      'weightDecay',
      [hyper({ weightDecay: MAX_ROUND_WEIGHT_DECAY })],
      [hyper({ weightDecay: MAX_ROUND_WEIGHT_DECAY + Number.EPSILON })],
      `hyper.weightDecay is ${MAX_ROUND_WEIGHT_DECAY + Number.EPSILON}, over the bound of ${MAX_ROUND_WEIGHT_DECAY}`,
    ],
    [
      'dataSeed',
      [hyper({ dataSeed: MAX_ROUND_DATA_SEED })],
      [hyper({ dataSeed: MAX_ROUND_DATA_SEED + 1 })],
      `hyper.dataSeed is ${MAX_ROUND_DATA_SEED + 1}, over the bound of ${MAX_ROUND_DATA_SEED}`,
    ],
    [
      'shardCount',
      [round({ shardCount: MAX_ROUND_SHARDS })],
      [round({ shardCount: MAX_ROUND_SHARDS + 1 })],
      `shardCount is ${MAX_ROUND_SHARDS + 1}, over the bound of ${MAX_ROUND_SHARDS}`,
    ],
    [
      'maxNorm',
      [round({ maxNorm: MAX_ROUND_MAX_NORM })],
      [round({ maxNorm: MAX_ROUND_MAX_NORM + 1 })],
      `maxNorm is ${MAX_ROUND_MAX_NORM + 1}, over the bound of ${MAX_ROUND_MAX_NORM}`,
    ],
    [
      'deadline',
      [round({ deadline: NOW + MAX_ROUND_AHEAD_MS })],
      [round({ deadline: NOW + MAX_ROUND_AHEAD_MS + 1 })],
      `deadline (ms from now) is ${MAX_ROUND_AHEAD_MS + 1}, over the bound of ${MAX_ROUND_AHEAD_MS}`,
    ],
    [
      'layers',
      [hyper({ context: 16 }), weightsOf(deep(MAX_MODEL_LAYERS))],
      [hyper({ context: 16 }), weightsOf(deep(MAX_MODEL_LAYERS + 1))],
      `model.layers is ${MAX_MODEL_LAYERS + 1}, over the bound of ${MAX_MODEL_LAYERS}`,
    ],
    [
      'head dimension (our kernels)',
      [round(), weightsOf({ ...TINY, heads: 1, width: 128 })],
      [round(), weightsOf({ ...TINY, heads: 1, width: 129 })],
      'GPT config: head dimension 129 exceeds 128, the widest head our attention kernels run',
    ],
    [
      // A dense fp32 update is 20 header bytes and 4 per parameter.
      'encoded update',
      [round({ codec: { format: 'fp32', blockSize: 256, density: 1 } }), weightsOf(TINY, MAX_UPDATE_BYTES - 20)],
      [round({ codec: { format: 'fp32', blockSize: 256, density: 1 } }), weightsOf(TINY, MAX_UPDATE_BYTES - 16)],
      `encoded update (bytes) is ${MAX_UPDATE_BYTES + 4}, over the bound of ${MAX_UPDATE_BYTES} (the largest update the seed takes)`,
    ],
  ];
  for (const [what, [ok, okWeights], [over, overWeights], reason] of cases) {
    expect(refusal(ok, okWeights), `${what} at its bound`).toBeUndefined();
    expect(refusal(over, overWeights), `${what} past its bound`).toBe(reason);
  }
});

/** The longest context (up to the model's) whose training at batch B fits MAX_TRAINING_GPU_BYTES. */
function longestContext(model: GptConfig, B: number): number {
  let T = 0;
  for (let step = 4096; step >= 1; step /= 2) {
    const next = T + step;
    if (next <= model.context && trainingGpuNeeds(model, { B, T: next }).totalBytes <= MAX_TRAINING_GPU_BYTES) T = next;
  }
  return T;
}

test("the GPU: the largest buffer fits the binding every adapter has, and training's memory the tab's budget", () => {
  // swarm-32mib's logits at batch 16 × its full context are exactly the 64 MiB binding: the buffer
  // passes (the memory budget refuses it); one more sequence is refused for the buffer.
  const big = weightsOf({ ...MODEL_PRESETS['swarm-32mib'] });
  const T = big.model.context;
  const binding = REQUIRED_LIMITS.maxStorageBufferBindingSize;
  expect(trainingGpuNeeds(big.model, { B: 16, T }).largestBuffer).toEqual({ bytes: binding, holds: 'logits' });
  expect(refusal(hyper({ batchSize: 16, context: T }), big)).toMatch(/^GPU memory of training \(bytes\) is \d+, over/);
  expect(refusal(hyper({ batchSize: 17, context: T }), big)).toBe(
    `GPU buffer of the logits (bytes) is ${(17 * binding) / 16}, over the bound of ${binding} (the storage binding every adapter a tab trains on has)`,
  );
  // The largest preset trains at its full context with batch 4.
  expect(longestContext(big.model, 4)).toBe(T);
  // A longer context of it: the longest that fits the budget passes, one token more is refused.
  const long = weightsOf({ ...big.model, context: 4096 });
  const t = longestContext(long.model, 4);
  expect(t).toBeLessThan(4096);
  expect(refusal(hyper({ batchSize: 4, context: t }), long)).toBeUndefined();
  const over = trainingGpuNeeds(long.model, { B: 4, T: t + 1 }).totalBytes;
  expect(refusal(hyper({ batchSize: 4, context: t + 1 }), long)).toBe(
    `GPU memory of training (bytes) is ${over}, over the bound of ${MAX_TRAINING_GPU_BYTES}`,
  );
});

/** The RoundRefusedError `p` rejects with. */
async function refused(p: Promise<unknown>): Promise<RoundRefusedError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RoundRefusedError);
  return e as RoundRefusedError;
}

test('admitRound verifies the weights against the seed, refuses a model past MAX_MODEL_BYTES, and lets forgeries throw', async () => {
  const key = await generateKeyPair('Ed25519');
  const seedId = peerIdFromPrivateKey(key);
  const seed = seedId.toString();
  const manifest = await buildManifest(initParams(paramLayout(TINY), 1), 'round 7', TINY);
  const weights = await signManifest(key, seedId, manifest);
  expect((await admitRound(round({ weights }), seed, NOW)).value).toEqual(manifest);
  // Signed by the seed, but larger than a tab trains: refused as the round's, naming the size.
  const huge = await signDocument(key, seedId, { ...manifest, totalBytes: MAX_MODEL_BYTES + 4 });
  expect((await refused(admitRound(round({ weights: huge }), seed, NOW))).message).toBe(
    `round 7 refused: weights manifest: totalBytes must be an integer in [1, ${MAX_MODEL_BYTES}]`,
  );
  // Good weights, a setting past its bound: refused once the weights verify.
  const steps = { ...hyper({ steps: MAX_ROUND_STEPS + 1 }), weights };
  expect((await refused(admitRound(steps, seed, NOW))).reason).toBe(
    `hyper.steps is ${MAX_ROUND_STEPS + 1}, over the bound of ${MAX_ROUND_STEPS}`,
  );
  // Weights the seed did not sign break no bound: the error stays what it is.
  const other = await generateKeyPair('Ed25519');
  const forged = await signManifest(other, peerIdFromPrivateKey(other), manifest);
  await expect(admitRound(round({ weights: forged }), seed, NOW)).rejects.toBeInstanceOf(SignatureError);
});
