// AdamW's second moment (v) shared through the seed. A volunteer's round starts AdamW afresh, and its
// first bias-corrected steps move every weight by about the lr whatever the gradient says: at the
// federated benchmark's budget that restart, not the rounds' staleness, is most of the gap to
// central training (bench/results/federated-sweep.json: smaller H is worse). Starting v from the
// last round's estimate instead (m from zero, no bias correction) closed most of it there, and
// unlike moments a volunteer keeps for itself, an estimate the round names is repeated exactly by
// re-execution.
//
// The estimate travels as one byte per block of SECOND_MOMENT_BLOCK parameters: the block's mean v
// on a log scale, STEPS_PER_OCTAVE codes per factor of 2 below 1 (v is a mean of squared clipped
// gradients, so at most 1), and 0 for none. A trainer reports its final v so; the seed's estimate is
// the mean of what its own re-executions reported (no peer's claim enters it). Any
// estimate is safe to start from: v = 0 makes AdamW's first step at most (1 − β1)/√(1 − β2) ≈ 3.2×
// the lr per weight, the bound the seed's norm checks already allow; a large v only slows learning.
import type { PeerId, PrivateKey } from '@libp2p/interface';
import {
  type PieceManifest,
  parsePieceFields,
  pieceFields,
  signDocument,
  type VerifiedDocument,
  verifyDocument,
} from '../swarm';
import { FedDocumentError } from './documents';

/** Parameters per block: the benchmark kept most of the per-parameter gain at 16 (5.861 against 5.843). */
export const SECOND_MOMENT_BLOCK = 16;
/** Codes per factor of 2: neighbouring codes differ by 19% in v, 9% in √v. */
const STEPS_PER_OCTAVE = 4;
const TOP_CODE = 255;

/** The v a (non-zero) code stands for. */
const codeValue = (code: number) => 2 ** ((code - TOP_CODE) / STEPS_PER_OCTAVE);

/** Codes of a vector of `parameters` floats. */
export function secondMomentLength(parameters: number): number {
  return Math.ceil(parameters / SECOND_MOMENT_BLOCK);
}

/** The codes of `v`: each block's mean, on the log scale; 0 for a block whose mean is 0. */
export function encodeSecondMoment(v: Float32Array): Uint8Array {
  const codes = new Uint8Array(secondMomentLength(v.length));
  for (let b = 0; b < codes.length; b++) {
    const start = b * SECOND_MOMENT_BLOCK;
    const end = Math.min(start + SECOND_MOMENT_BLOCK, v.length);
    let sum = 0;
    for (let i = start; i < end; i++) sum += v[i]!;
    const mean = sum / (end - start);
    if (!(mean > 0)) continue; // zero, or not a number: no estimate
    codes[b] = Math.max(1, Math.min(TOP_CODE, Math.round(TOP_CODE + STEPS_PER_OCTAVE * Math.log2(mean))));
  }
  return codes;
}

/** v for `parameters` parameters from its codes: every parameter of a block gets the block's value. */
export function expandSecondMoment(codes: Uint8Array, parameters: number): Float32Array {
  if (codes.length !== secondMomentLength(parameters))
    throw new RangeError(
      `second moment: ${codes.length} codes for ${parameters} parameters (expected ${secondMomentLength(parameters)})`,
    );
  const v = new Float32Array(parameters);
  for (let b = 0; b < codes.length; b++) {
    const code = codes[b]!;
    if (code === 0) continue;
    const start = b * SECOND_MOMENT_BLOCK;
    v.fill(codeValue(code), start, Math.min(start + SECOND_MOMENT_BLOCK, parameters));
  }
  return v;
}

/**
 * The mean of reports of one length, block by block in v (not in codes): a block only some trainers
 * saw gradients for (the embedding rows of tokens only their shards hold) keeps a share of theirs,
 * where a median would drop it to none. The reports are the seed's own re-executions, so no
 * peer's claim is among them.
 */
export function meanSecondMoment(reports: Uint8Array[]): Uint8Array {
  const first = reports[0];
  if (!first) throw new RangeError('second moment: no reports to take the mean of');
  if (reports.some((r) => r.length !== first.length)) throw new RangeError('second moment: reports differ in length');
  const sums = new Float64Array(first.length);
  for (const r of reports) for (let b = 0; b < r.length; b++) if (r[b]! > 0) sums[b]! += codeValue(r[b]!);
  const mean = new Float32Array(first.length * SECOND_MOMENT_BLOCK);
  for (let b = 0; b < sums.length; b++)
    mean.fill(sums[b]! / reports.length, b * SECOND_MOMENT_BLOCK, (b + 1) * SECOND_MOMENT_BLOCK);
  return encodeSecondMoment(mean);
}

/** A round's second moment as the seed publishes it: a signed piece manifest of the codes. */
export interface MomentManifest extends PieceManifest {
  kind: 'vgpu/moment';
  version: 1;
  /** Parameters of the model the codes are for (the codes: secondMomentLength of it). */
  parameters: number;
  blockSize: number;
}

export async function signMomentManifest(key: PrivateKey, signer: PeerId, codes: Uint8Array, parameters: number) {
  const manifest: MomentManifest = {
    kind: 'vgpu/moment',
    version: 1,
    parameters,
    blockSize: SECOND_MOMENT_BLOCK,
    ...(await pieceFields(codes)),
  };
  return signDocument(key, signer, parseMomentManifest(manifest));
}

export function parseMomentManifest(value: unknown): MomentManifest {
  const fail = (why: string): never => {
    throw new FedDocumentError(`second-moment manifest: ${why}`);
  };
  if (typeof value !== 'object' || value === null) return fail('not an object');
  const m = value as Record<string, unknown>;
  if (m.kind !== 'vgpu/moment' || m.version !== 1) fail(`unknown kind/version ${String(m.kind)}/${String(m.version)}`);
  if (m.blockSize !== SECOND_MOMENT_BLOCK) fail(`blockSize must be ${SECOND_MOMENT_BLOCK}, got ${String(m.blockSize)}`);
  if (!Number.isInteger(m.parameters) || (m.parameters as number) < 1) fail('parameters must be a positive integer');
  const pieces = parsePieceFields(m, fail);
  if (pieces.totalBytes !== secondMomentLength(m.parameters as number))
    fail(`${pieces.totalBytes} bytes for ${String(m.parameters)} parameters`);
  return {
    kind: 'vgpu/moment',
    version: 1,
    parameters: m.parameters as number,
    blockSize: SECOND_MOMENT_BLOCK,
    ...pieces,
  };
}

export const verifyMomentManifest = (doc: unknown, seed: PeerId | string): Promise<VerifiedDocument<MomentManifest>> =>
  verifyDocument(doc, seed, parseMomentManifest);
