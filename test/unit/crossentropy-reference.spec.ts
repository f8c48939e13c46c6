import { expect, test } from '@playwright/test';
import { crossEntropyBackwardCpu, crossEntropyForwardCpu } from '../../src/model/cpu/crossentropy';
import { randomUniform } from '../../src/util/random';
import { gradientError, numericGradient } from '../harness/gradcheck';

test('cross-entropy of hand-checked rows', () => {
  // Equal logits: softmax is uniform, so the loss is ln V.
  expect(crossEntropyForwardCpu({ logits: [2, 2, 2, 2], targets: [3], rows: 1, V: 4 }).losses[0]).toBeCloseTo(
    Math.log(4),
    14,
  );

  // Logits [0, ln 3] give softmax [1/4, 3/4].
  const args = { logits: [0, Math.log(3), 0, Math.log(3)], targets: [1, 0], rows: 2, V: 2 };
  const { losses, mean } = crossEntropyForwardCpu(args);
  expect(losses[0]).toBeCloseTo(Math.log(4 / 3), 14);
  expect(losses[1]).toBeCloseTo(Math.log(4), 14);
  expect(mean).toBeCloseTo((Math.log(4 / 3) + Math.log(4)) / 2, 14);
  // (softmax − onehot) / rows
  const dlogits = crossEntropyBackwardCpu(args);
  for (const [i, want] of [1 / 8, -1 / 8, -3 / 8, 3 / 8].entries()) expect(dlogits[i]).toBeCloseTo(want, 14);
});

test('cross-entropy backward matches finite differences of the scaled loss sum', () => {
  const rows = 3;
  const V = 7;
  const logits = randomUniform(rows * V, 11, 3);
  const targets = [4, 0, 6];
  for (const dlossScale of [1 / rows, 0.37]) {
    const loss = (x: Float64Array) =>
      dlossScale * crossEntropyForwardCpu({ logits: x, targets, rows, V }).losses.reduce((s, l) => s + l, 0);
    const numeric = numericGradient(loss, logits);
    const analytic = crossEntropyBackwardCpu({ logits, targets, rows, V, dlossScale });
    // Central differences in f64 with h = 1e-5: truncation and rounding are far below 1e-8.
    expect(gradientError(analytic, numeric)).toBeLessThan(1e-8);
  }
});

test('cross-entropy is stable for logits of magnitude 1e3 and for dominating logits', () => {
  const rows = 4;
  const V = 9;
  const logits = randomUniform(rows * V, 12, 1e3);
  const targets = [0, 3, 8, 5];
  const shifted = Array.from(logits, (x) => x + 1e3); // in f64: a Float32Array would round the shift
  const a = crossEntropyForwardCpu({ logits, targets, rows, V }).losses;
  const b = crossEntropyForwardCpu({ logits: shifted, targets, rows, V }).losses;
  for (let r = 0; r < rows; r++) {
    expect(Number.isFinite(a[r])).toBe(true);
    expect(Math.abs(a[r]! - b[r]!)).toBeLessThan(1e-9 * Math.max(1, a[r]!)); // softmax ignores a constant shift
  }
  for (const g of crossEntropyBackwardCpu({ logits, targets, rows, V })) expect(Number.isFinite(g)).toBe(true);

  // One logit of 1000 among zeros: softmax is one-hot up to e^-1000.
  const dominant = [1000, 0, 0, 1000, 0, 0];
  const { losses } = crossEntropyForwardCpu({ logits: dominant, targets: [0, 2], rows: 2, V: 3 });
  expect(Math.abs(losses[0]!)).toBe(0); // −log 1 is −0
  expect(losses[1]).toBe(1000);
  expect([...crossEntropyBackwardCpu({ logits: dominant, targets: [0, 2], rows: 2, V: 3, dlossScale: 1 })]).toEqual([
    0, 0, 0, 1, 0, -1,
  ]);
});

test('cross-entropy rejects targets outside [0, V)', () => {
  const args = { logits: [0, 0, 0], rows: 1, V: 3 };
  expect(() => crossEntropyForwardCpu({ ...args, targets: [3] })).toThrow(
    /target 3 at row 0 is not a class in \[0, 3\)/,
  );
  expect(() => crossEntropyBackwardCpu({ ...args, targets: [-1] })).toThrow(/target -1/);
});
