import { expectChecks } from '../harness/expect-checks';
import { inPage, test } from '../harness/page';
import type { GeluCase } from './gelu.cases';
import type { OutputCheck } from './run-kernels';

const CASES = '/test/browser/gelu.cases.ts';

// Tolerances: |gpu − cpu| ≤ atol + rtol·|cpu|, the CPU reference in f64. No sums here: the
// error is f32 tanh's few ulp (≈ 6e-8 each near ±1), which y = 0.5·x·(1 + tanh u) scales by
// |x|/2 ≤ 3, and dx's 0.5·x·(1 − tanh² u)·du term by up to ~30 for |x| ≤ 6.
//   y:  atol 1e-6, rtol 1e-5        dx: atol 1e-5, rtol 1e-5
const TOL: GeluCase['tol'] = { y: { atol: 1e-6, rtol: 1e-5 }, dx: { atol: 1e-5, rtol: 1e-5 } };

test('gelu forward and backward match the CPU reference, tails included, for n = 1 … 70000', async ({ gpuPage }) => {
  for (const n of [1, 13, 77, 1000, 70_000]) {
    const c: GeluCase = { n, seed: n, tol: TOL };
    expectChecks(`n=${n}`, await inPage<OutputCheck[]>(gpuPage, CASES, 'geluCase', c));
  }
});
