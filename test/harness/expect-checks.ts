// Node side of the kernel cases: turns the OutputChecks a case returned into soft expectations.
import { expect } from '@playwright/test';
import type { OutputCheck } from '../browser/run-kernels';

/** Each output must be within its tolerance (worst ≤ 1); failures name the case, output and worst element. */
export function expectChecks(label: string, checks: OutputCheck[]): void {
  for (const c of checks) {
    const where = `${label}: ${c.name} off by ${c.maxAbsErr} at ${c.at} of ${c.elements}`;
    expect.soft(c.worst, where).toBeLessThanOrEqual(1);
  }
}
