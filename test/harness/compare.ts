/** How far `got` is from `want` under |got − want| ≤ atol + rtol·|want|. */
export interface Comparison {
  maxAbsErr: number;
  /** Largest |got − want| / (atol + rtol·|want|): within tolerance when ≤ 1. NaN or a length mismatch gives Infinity. */
  worst: number;
  /** Index of the worst element, for the failure message. */
  at: number;
}

export function compareArrays(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number): Comparison {
  if (got.length !== want.length) return { maxAbsErr: Infinity, worst: Infinity, at: -1 };
  let maxAbsErr = 0;
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    const ratio = Number.isNaN(err) ? Infinity : err / (atol + rtol * Math.abs(want[i]!));
    maxAbsErr = Math.max(maxAbsErr, err);
    if (ratio > worst || at < 0) {
      worst = ratio;
      at = i;
    }
  }
  return { maxAbsErr, worst, at };
}
