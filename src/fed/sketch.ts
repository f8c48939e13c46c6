// Count sketches of updates (Charikar, Chen, Farach-Colton 2002): each coordinate is added, with a
// random sign, into one of SKETCH_SIZE slots. The dot product of two sketches estimates the updates'
// (unbiased, with an error of about ‖a‖·‖b‖/√SKETCH_SIZE), so a round's near-duplicate pairs are found
// from a few KiB per update instead of every update held in memory. The hashing is drawn from a seed
// the seed keeps to itself: a volunteer cannot shape an update whose sketch collides with another's.
import { createRandom } from '../util/random';

/**
 * Slots per sketch. Cosines between honest updates (0.04–0.96 in our rounds) come out within about
 * ±0.03 of their true value at this size (1/√1024), while a copy with noise of a fifth of its norm or
 * less (what DUPLICATE_GAP_FRACTION flags: verify.ts) keeps a gap of a tenth of the honest ones':
 * 4 KiB per update, and a round's pairs at N = 1000 cost 5·10⁸ multiply-adds.
 */
export const SKETCH_SIZE = 1024;

/** Maps an update of `length` floats to its sketch; a vector no longer than SKETCH_SIZE is its own sketch (a copy). */
export type Sketcher = (update: Float32Array) => Float32Array;

export function createSketcher(length: number, seed: number): Sketcher {
  if (length <= SKETCH_SIZE) return (update) => Float32Array.from(update);
  // Slot j with sign + is stored as j, with sign − as −(j + 1).
  const random = createRandom(seed);
  const slots = new Int32Array(length);
  for (let i = 0; i < length; i++) {
    const slot = Math.floor(random() * SKETCH_SIZE);
    slots[i] = random() < 0.5 ? slot : -(slot + 1);
  }
  return (update) => {
    if (update.length !== length) throw new RangeError(`sketching ${update.length} floats, made for ${length}`);
    const sketch = new Float64Array(SKETCH_SIZE);
    for (let i = 0; i < length; i++) {
      const s = slots[i]!;
      if (s >= 0) sketch[s]! += update[i]!;
      else sketch[-s - 1]! -= update[i]!;
    }
    return Float32Array.from(sketch);
  };
}
