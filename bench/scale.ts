// `npm run bench -- scale [--cases N=100,N=300,N=1000,"N=1000 helpers=4"]`: one seed's coordinator under a thousand
// volunteers (issue 16). Each case runs in a child process of its own (bench/lib/scale-run.ts: the
// real coordinator, run folder, spool and update protocol; simulated volunteers sending well-formed
// int8 updates of the tiny model's size, with churn and stragglers; verification left out) for
// ROUNDS rounds of ROUND_MS, twice:
//   ours        the seed as it runs: updates folded into STREAMING_BUCKETS bucket sums as they come;
//   per-update  every update in a bucket of its own (buckets = the roster's size): what holding each
//               update costs, as the seed did before streaming aggregation.
// Rows (per round: the median over the measured rounds, with their range):
//   round_s             from the round's close trigger (its last update, or the last leaver's grace
//                       ending) to the next round's publication: aggregation, validation loss,
//                       checkpoint, receipts, the next round's weights and manifest;
//   aggregate_cpu_s     the coordinator's aggregation time (robust rule and outer step; it runs in
//                       slices between other events, so this wall time bounds its CPU from above);
//   root_ingress_mib    bytes the volunteers sent the seed through the update protocol;
//   completed_fraction  updates accepted over volunteers assigned that stayed;
//   seed_peak_rss_mib   the child's peak resident memory (VmHWM), the simulated volunteers' share
//                       included (one encoded update at a time each, and 16 kept to send).
// Goals at N=1000 (issue 16): seed_peak_rss_mib ≤ 1024, aggregate_cpu_s ≤ 2, completed_fraction ≥ 0.95.
// `N=1000 helpers=4`: the same volunteers spread over 4 helper seeds (bench/lib/scale-run.ts); its
// goal is root_ingress_mib ≤ 1/10 of N=1000's.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STREAMING_BUCKETS } from '../src/fed';
import { modelPreset } from '../src/model';
import { loadOrCreateData } from '../src/seed/data';
import { type BenchOptions, chooseCases } from './lib/cli';
import { runInProcesses } from './lib/processes';
import { type BenchResult, type BenchRow, spreadRows } from './lib/results';
import type { ScaleJob, ScaleResult } from './lib/scale-run';

const CASES: Record<string, { volunteers: number; helpers: number }> = {
  'N=100': { volunteers: 100, helpers: 0 },
  'N=300': { volunteers: 300, helpers: 0 },
  'N=1000': { volunteers: 1000, helpers: 0 },
  'N=1000 helpers=4': { volunteers: 1000, helpers: 4 },
};
const ROUNDS = 3;
/**
 * Long enough for the churn's timeline: leavers go at a fifth of the round and are waited for
 * LEFT_GRACE_MS (10 s); stragglers send until four fifths of it.
 */
const ROUND_MS = 30_000;
const MIB = 1024 * 1024;

export async function runScaleBench(_base: string, options: BenchOptions): Promise<BenchResult> {
  const cases = chooseCases('scale', options.cases, CASES);
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  for (const c of cases) {
    const { volunteers, helpers } = CASES[c]!;
    // The per-update comparison is about the root's buckets; behind helpers it holds a few partials.
    const impls =
      helpers === 0
        ? ([
            ['ours', STREAMING_BUCKETS],
            ['per-update', 2 * volunteers],
          ] as const)
        : ([['ours', STREAMING_BUCKETS]] as const);
    for (const [impl, buckets] of impls) {
      const runDir = await mkdtemp(join(tmpdir(), 'vgpu-bench-scale-'));
      try {
        // The children read these token files: the seed's memory is not the corpus's tokenization.
        await loadOrCreateData(runDir, modelPreset('tiny').vocab);
        const job: ScaleJob = { runDir, volunteers, buckets, helpers, rounds: ROUNDS, roundMs: ROUND_MS, seed: 1 };
        const [result] = await runInProcesses<ScaleJob, ScaleResult>(
          new URL('./lib/scale-run.ts', import.meta.url),
          'runScaleJob',
          [job],
          1,
        );
        const r = result!;
        const per = (f: (x: ScaleResult['rounds'][number]) => number) => r.rounds.map(f);
        rows.push(
          ...spreadRows(
            c,
            impl,
            'round_s',
            per((x) => x.closeSeconds),
          ),
          ...spreadRows(
            c,
            impl,
            'aggregate_cpu_s',
            per((x) => x.aggregateSeconds),
          ),
          ...spreadRows(
            c,
            impl,
            'root_ingress_mib',
            per((x) => x.ingressBytes / MIB),
          ),
          ...spreadRows(
            c,
            impl,
            'completed_fraction',
            per((x) => x.accepted / x.stayed),
          ),
          { case: c, impl, metric: 'seed_peak_rss_mib', value: r.peakRssMib },
        );
        notes.push(
          `${c} ${impl} (${buckets} buckets, ${r.parameters} parameters): rounds ${r.rounds
            .map((x) => `${x.accepted}/${x.stayed} of ${x.assigned} assigned`)
            .join(', ')}; resident memory ${r.startRssMib.toFixed(0)} MiB before the first round`,
        );
        console.log(notes.at(-1));
      } finally {
        await rm(runDir, { recursive: true, force: true });
      }
    }
  }
  const ingress = (c: string) =>
    rows.find((r) => r.case === c && r.impl === 'ours' && r.metric === 'root_ingress_mib')?.value;
  const [single, helped] = [ingress('N=1000'), ingress('N=1000 helpers=4')];
  if (single !== undefined && helped !== undefined)
    notes.push(
      `root ingress per round with 4 helpers: ${(helped / single).toFixed(4)} of the single seed's at N=1000 (goal ≤ 0.1)`,
    );
  notes.push(
    'N=1000 helpers=4: the volunteers dealt out over 4 simulated helpers speaking the real helper protocol to the root (joins, leaves, one signed fp32 partial each per round; the root fetches 2 samples behind each): root_ingress_mib counts what the helpers send the root',
    `each case: the tiny model, ${ROUNDS} rounds of ${ROUND_MS / 1000} s, int8 updates (density 1), centered-clip; 30% of each round's assigned volunteers leave at a fifth of it, the rest send in [5%, 45%] of the round (10% of them stragglers, in [45%, 80%]), 30% × N newcomers join during it; verification is left out (every update accepted): its cost is the byzantine benchmark's verify_overhead`,
    'per-update: the same seed with a bucket per volunteer, what holding every update costs (the seed before streaming aggregation kept each decoded update until the close)',
  );
  return { adapter: { description: 'none: the seed coordinator in Node (CPU)' }, rows, notes };
}
