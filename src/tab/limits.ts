// What a tab takes on for its seed: upper bounds on every round before it downloads or trains
// anything (checked by admitRound, round-check.ts). A round past one is a seed that is broken or
// hostile: the tab refuses it and says so. Bounds every party keeps live with the documents
// (src/fed/documents.ts) and the swarm (src/swarm/limits.ts: MAX_MODEL_BYTES).
import { MAX_MODEL_BYTES } from '../swarm';

const MiB = 1024 * 1024;

/** Local AdamW steps per round (DiLoCo's H). The default run takes 20; DiLoCo's paper found 500 best. */
export const MAX_ROUND_STEPS = 1_000;
/** Sequences per local step. The default run takes 4; GPU memory (below) usually binds first. */
export const MAX_ROUND_BATCH_SIZE = 64;
/** Inner AdamW learning rate. The default is 3e-3; Adam moves each weight by about lr a step, and weights are ~0.1. */
export const MAX_ROUND_LR = 1;
/** Inner AdamW weight decay (decoupled: each step shrinks weights by lr × it). The default is 0.1. */
export const MAX_ROUND_WEIGHT_DECAY = 1;
/** Seed of the data order: the dataset draws batches from a u32. */
export const MAX_ROUND_DATA_SEED = 0xffff_ffff;
/**
 * Shards of the training split (at most one volunteer each per round). The default run cuts 64; a
 * round's 256 KiB signed document holds about 4,000 assignments (a peer id and a shard, ~60 bytes).
 */
export const MAX_ROUND_SHARDS = 4_096;
/**
 * The update norm the seed accepts. Only the seed uses it; a larger one is nonsense: the seed's rule
 * (maxUpdateNorm, 4·steps·lr·√parameters) at the bounds above and the largest model gives this.
 */
export const MAX_ROUND_MAX_NORM = 4 * MAX_ROUND_STEPS * MAX_ROUND_LR * Math.sqrt(MAX_MODEL_BYTES / 4);
/** How far ahead a round's deadline may be. Rounds last minutes (the default 120 s); a day covers clock skew too. */
export const MAX_ROUND_AHEAD_MS = 24 * 60 * 60_000;
/** Transformer layers. GPT-2 XL has 48; every layer adds some 30 GPU dispatches to each step. */
export const MAX_MODEL_LAYERS = 64;
/**
 * GPU memory training may take (parameters, gradients, AdamW's moments, activations: trainingGpuNeeds).
 * A volunteer's GPU may be an integrated one sharing a laptop's memory. This trains the largest
 * preset (swarm-32mib) at its full context of 1,024 tokens with batch 4 (1,026 MiB); a default
 * round of it takes 185 MiB.
 */
export const MAX_TRAINING_GPU_BYTES = 1536 * MiB;
/**
 * A token file (/data/train.u16, /data/validation.u16): the round names it by hash only, so the
 * download itself is bounded. The Brown corpus's training split is 4.1 MB; a tab holds a file five
 * times over (its bytes, then u32 tokens in the page and in the trainer).
 */
export const MAX_TOKEN_FILE_BYTES = 64 * MiB;
/**
 * How long a tab leaves its seed alone after the seed served corrupted weights (the download failed
 * with SeedServesCorruptPiecesError). Long, not forever: the researcher may restart a broken seed,
 * and the tab then takes part again by itself; a hostile one costs it a few MiB each time.
 */
export const SEED_CORRUPT_RETRY_MS = 10 * 60_000;
/**
 * How many times a joining tab asks the seed again what weights it serves, after the seed retired
 * one it was downloading (rounds may close faster than a slow tab downloads).
 */
export const MAX_OFFER_REFRESHES = 3;
