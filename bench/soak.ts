// `npm run bench -- soak`: the seed under honest volunteers and every attacker of issue 13 at once,
// for a bounded time (VGPU_SOAK_SECONDS, default 180 s; development runs: 60 s or less). Case `mixed`
// (the issue's: every attack), impl `ours`; opt-in with --cases, `honest` is the same soak without
// attackers (the baseline) and `only:<attack>` with one attack. `--runs` does not apply: one soak
// per case. What runs, all inside the benchmark's private network namespace, on loopback:
//   - the seed, in a child process of its own (bench/lib/soak-jobs.ts), from a fresh run folder whose
//     token files this process made first (so the seed's peak memory is not the corpus's
//     tokenization): the tiny model (one 0.7 MB piece), rounds of H = 4 local steps of 2×16 tokens
//     (the CPU trains them in about a second, so several rounds fit in the soak) with the seed's
//     default 120 s deadline (a round closes as soon as every assigned volunteer has reported: the
//     deadline only ends one that waits for a volunteer that does not). If it exits before the end
//     it is counted as a crash and started again on the same ports and folder (at most
//     MAX_SEED_RESTARTS times);
//   - VOLUNTEERS honest Node volunteers, each a child process (src/volunteer: the tab's participant
//     loop and swarm client, WebRTC between them, training on the CPU reference model), each
//     measuring the wait for every piece it downloads and the receipts it gets. The soak's clock
//     starts once their processes have loaded; they connect and join under attack;
//   - (mixed) every attack of bench/lib/soak-attacks.ts, in this process, all at once from the start,
//     from addresses of their own (127.0.0.2 for libp2p, 127.0.0.3 for HTTP; the volunteers use
//     127.0.0.1). The notes say what each attack did.
// Rows:
//   honest_rounds_completed  Σ over volunteers of the issued rounds that assigned it in which it got
//                            an accepted receipt, over Σ of the issued rounds that assigned it. Each
//                            issue of a round manifest counts (a round is issued again when it got no
//                            update by its deadline), except the one still open at the end; an issue
//                            is completed only if it is the last of its round number and the
//                            volunteer's receipt for that round was accepted.
//   honest_pieces_served     Of the pieces missing when an honest volunteer's weights download started
//                            (downloads that started at least PIECE_WAIT_BOUND_MS before the end), the
//                            fraction that arrived within PIECE_WAIT_BOUND_MS of that start.
//   honest_piece_p95_s       95th percentile (nearest rank) of the waits for a piece over every honest
//                            download: from the download's start to its first piece, then between
//                            pieces; a download unfinished at the end adds the time since its last piece.
//   seed_peak_rss_mib        The seed process's peak resident memory (VmHWM of /proc/<pid>/status,
//                            sampled every SAMPLE_MS; the largest over restarts).
//   seed_open_fds            The most file descriptors the seed held at a sample (/proc/<pid>/fd).
//   crashes                  Seed process exits before the final stop.
// Goals (issue 13): honest_rounds_completed ≥ 0.95, honest_piece_p95_s ≤ 5, seed_peak_rss_mib ≤ 512,
// crashes = 0; the notes say which hold.
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { modelPreset } from '../src/model';
import { loadOrCreateData } from '../src/seed/data';
import { PIECE_REQUEST_TIMEOUT_MS } from '../src/swarm';
import { endChild, type JobChild, startJobChild } from './lib/processes';
import type { BenchResult, BenchRow } from './lib/results';
import { type AttackCounts, type AttackOutcome, runSoakAttacks, SOAK_ATTACKS } from './lib/soak-attacks';
import {
  type IssuedRound,
  QUICK_ROUNDS,
  quickSeedStart,
  type SeedJob,
  type StartedSeed,
  type VolunteerJob,
  type VolunteerStats,
} from './lib/soak-jobs';

/**
 * The attacks of a case: `mixed` (the issue's) all of them; opt-in with --cases, `honest` none (the
 * baseline) and `only:<attack>` one (to tell which attack a figure comes from). Undefined: no such case.
 */
function caseAttacks(c: string): string[] | undefined {
  if (c === 'mixed') return Object.keys(SOAK_ATTACKS);
  if (c === 'honest') return [];
  const only = c.startsWith('only:') ? c.slice('only:'.length) : '';
  return only in SOAK_ATTACKS ? [only] : undefined;
}
const DEFAULT_CASE = 'mixed';
/** The soak's length unless VGPU_SOAK_SECONDS says otherwise. */
const DEFAULT_SECONDS = 180;
/**
 * Honest volunteers: enough that pieces pass between them (the seed sends each piece once and refers
 * the others to its holders) and that a round aggregates several updates; few enough that their CPU
 * training and WebRTC leave the 2-core machine to the seed and the attackers.
 */
const VOLUNTEERS = 4;
const MODEL = 'tiny';
/** How often the seed's memory, open files and issued rounds are read. */
const SAMPLE_MS = 1_000;
const MAX_SEED_RESTARTS = 3;
/** A piece not there this long after its download started counts as not served: the fetcher's own request timeout. */
const PIECE_WAIT_BOUND_MS = PIECE_REQUEST_TIMEOUT_MS;
/** Time the volunteers and attacks get to wind down after the end before they are given up on. */
const WIND_DOWN_MS = 60_000;

const GOALS: Record<string, { op: '≥' | '≤' | '='; value: number }> = {
  honest_rounds_completed: { op: '≥', value: 0.95 },
  honest_piece_p95_s: { op: '≤', value: 5 },
  seed_peak_rss_mib: { op: '≤', value: 512 },
  crashes: { op: '=', value: 0 },
};

/** The module of the seed's (and the soak volunteers') child-process jobs. */
const JOBS = new URL('./lib/soak-jobs.ts', import.meta.url);

function soakSeconds(): number {
  const text = process.env.VGPU_SOAK_SECONDS;
  const seconds = Number(text ?? DEFAULT_SECONDS);
  if (!(seconds >= 10)) throw new Error(`VGPU_SOAK_SECONDS must be a number of seconds ≥ 10, got ${text}`);
  return seconds;
}

const startChild = (fn: 'soakSeed' | 'soakVolunteer'): JobChild<SeedJob | VolunteerJob> => startJobChild(JOBS, fn);

/** The seed's peak RSS (KiB) and open files now, or undefined once it has exited. */
async function procSample(pid: number): Promise<{ hwmKiB: number; fds: number } | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const fds = (await readdir(`/proc/${pid}/fd`)).length;
    return { hwmKiB: Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0), fds };
  } catch {
    return undefined;
  }
}

/** The seed process, started again (bounded) when it exits before stop(); what it was seen doing. */
async function startSeedProcess(first: Extract<SeedJob, { kind: 'start' }>) {
  let child = startChild('soakSeed');
  const started = await child.call<StartedSeed>(first);
  const restartJob = { ...first, httpPort: started.httpPort, p2pPort: started.p2pPort };
  const seen = { crashes: 0, exits: [] as string[], issued: [] as IssuedRound[], peakHwmKiB: 0, peakFds: 0 };
  let stopping = false;
  let restarting: Promise<void> = Promise.resolve();
  const watch = (c: JobChild<SeedJob | VolunteerJob>) =>
    c.process.once('exit', (code, signal) => {
      if (stopping) return;
      seen.crashes++;
      seen.exits.push(`${signal ?? `code ${code}`} at ${new Date().toISOString()}`);
      if (seen.crashes > MAX_SEED_RESTARTS) return;
      restarting = (async () => {
        child = startChild('soakSeed');
        watch(child);
        await child.call<StartedSeed>(restartJob);
      })().catch((e: Error) => void seen.exits.push(`restart failed: ${e.message}`));
    });
  watch(child);
  /** Reads the process's memory and open files and drains its issued rounds. */
  const sample = async () => {
    await restarting;
    const pid = child.process.pid;
    const s = pid === undefined ? undefined : await procSample(pid);
    if (s) {
      seen.peakHwmKiB = Math.max(seen.peakHwmKiB, s.hwmKiB);
      seen.peakFds = Math.max(seen.peakFds, s.fds);
    }
    seen.issued.push(...(await child.call<IssuedRound[]>({ kind: 'rounds' }).catch(() => [])));
  };
  const stop = async () => {
    await sample();
    stopping = true;
    seen.issued.push(...(await child.call<IssuedRound[]>({ kind: 'stop' }).catch(() => [])));
    await endChild(child);
  };
  return { started, seen, sample, stop };
}

const attackList = (c: string) => {
  const names = caseAttacks(c)!;
  return names.length === Object.keys(SOAK_ATTACKS).length
    ? 'every attack of bench/lib/soak-attacks.ts at once'
    : names.length
      ? `the attack ${names.join(', ')} alone`
      : 'no attacks (the baseline)';
};

/** Rejects with `why` after `ms`; its timer does not keep the process alive. */
const gaveUp = (ms: number, why: string) =>
  delay(ms, undefined, { ref: false }).then(() => {
    throw new Error(why);
  });

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

/** Per volunteer: issues that assigned it (all but the one open at `endAt`), and of those the ones it completed. */
function roundsOf(v: VolunteerStats, issued: IssuedRound[], endAt: number) {
  const seen = issued.filter((i) => i.at <= endAt);
  const closed = seen.slice(0, -1);
  let assigned = 0;
  let completed = 0;
  for (const [k, issue] of closed.entries()) {
    if (!issue.assigned.includes(v.peerId)) continue;
    assigned++;
    const lastOfRound = !seen.slice(k + 1).some((later) => later.round === issue.round);
    if (lastOfRound && v.acceptedRounds.includes(issue.round)) completed++;
  }
  return { assigned, completed };
}

const describeDownload = (d: VolunteerStats['downloads'][number]) =>
  `${d.seconds.toFixed(1)} s${d.done ? '' : ' unfinished'} (${d.fromPeersBytes >= d.fromSeedBytes ? 'peers' : 'seed'})`;

const formatCounts = (counts: AttackCounts) =>
  Object.entries(counts)
    .map(([kind, n]) => `${n} ${kind}`)
    .join(', ') || 'nothing';

export async function runSoakBench(
  _pageBase: string,
  options: { cases?: string[]; runs?: number },
): Promise<BenchResult> {
  const cases = options.cases ?? [DEFAULT_CASE];
  const unknown = cases.filter((c) => !caseAttacks(c));
  if (unknown.length)
    throw new Error(
      `unknown soak case ${unknown.join(', ')}; known: mixed, honest, ${Object.keys(SOAK_ATTACKS)
        .map((a) => `only:${a}`)
        .join(', ')}`,
    );
  const seconds = soakSeconds();
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  for (const c of cases) {
    const result = await soak(c, seconds);
    rows.push(...result.rows);
    notes.push(...result.notes.map((note) => (cases.length > 1 ? `${c}: ${note}` : note)));
  }
  return {
    adapter: { description: 'none: the soak runs a seed, Node volunteers (CPU reference model) and attackers' },
    rows,
    notes,
  };
}

/** One soak of `seconds` in a fresh folder: the seed, the volunteers and the case's attacks. */
async function soak(c: string, seconds: number): Promise<Pick<BenchResult, 'rows'> & { notes: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'vgpu-bench-soak-'));
  try {
    const appDir = join(dir, 'app');
    const runDir = join(dir, 'run');
    await mkdir(appDir);
    // The token files first, here: tokenizing the corpus is a startup cost the seed's peak memory
    // would otherwise carry (a run folder with data and nothing else is a new run).
    await loadOrCreateData(runDir, modelPreset(MODEL).vocab);
    console.log(`  ${c}: starting the seed (${MODEL} model) in ${dir}`);
    const seed = await startSeedProcess(quickSeedStart(runDir, appDir, MODEL));
    const { url, info } = seed.started;
    const volunteers = Array.from({ length: VOLUNTEERS }, () => startChild('soakVolunteer'));
    await Promise.all(volunteers.map((v) => v.call({ kind: 'ready' })));
    const endAt = Date.now() + seconds * 1000;
    console.log(`  ${c}: soaking for ${seconds} s: ${VOLUNTEERS} honest volunteers, ${attackList(c)}`);
    const stats = Promise.all(
      volunteers.map((v) =>
        Promise.race([
          v.call<VolunteerStats>({ kind: 'run', seedUrl: url, endAt, pieceWaitBoundMs: PIECE_WAIT_BOUND_MS }),
          gaveUp(endAt - Date.now() + WIND_DOWN_MS, 'a volunteer did not stop in time'),
        ]),
      ),
    );
    const attacksEnd = new AbortController();
    const attacks = runSoakAttacks({ info: () => info }, url, caseAttacks(c)!, attacksEnd.signal);

    // Bounded: one sample a second until the end.
    while (Date.now() < endAt) {
      await seed.sample();
      await delay(Math.min(SAMPLE_MS, Math.max(0, endAt - Date.now())));
    }
    attacksEnd.abort();
    const attacked: Record<string, AttackOutcome> = await Promise.race([
      attacks,
      gaveUp(WIND_DOWN_MS, 'the attacks did not stop in time'),
    ]);
    const honest = await stats.finally(() => Promise.all(volunteers.map(endChild)));
    await seed.stop();
    return report({ c, seconds, endAt, honest, seen: seed.seen, attacked });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function report(r: {
  c: string;
  seconds: number;
  endAt: number;
  honest: VolunteerStats[];
  seen: { crashes: number; exits: string[]; issued: IssuedRound[]; peakHwmKiB: number; peakFds: number };
  attacked: Record<string, AttackOutcome>;
}): Pick<BenchResult, 'rows'> & { notes: string[] } {
  const perVolunteer = r.honest.map((v) => ({ v, ...roundsOf(v, r.seen.issued, r.endAt) }));
  const assigned = perVolunteer.reduce((n, x) => n + x.assigned, 0);
  const completed = perVolunteer.reduce((n, x) => n + x.completed, 0);
  const requested = r.honest.reduce((n, v) => n + v.piecesRequested, 0);
  const arrived = r.honest.reduce((n, v) => n + v.piecesArrived, 0);
  const waits = r.honest.flatMap((v) => v.pieceWaitsS);
  const figures: Record<string, number> = {
    honest_rounds_completed: assigned ? completed / assigned : 0,
    honest_pieces_served: requested ? arrived / requested : 0,
    honest_piece_p95_s: percentile(waits, 0.95),
    seed_peak_rss_mib: r.seen.peakHwmKiB / 1024,
    seed_open_fds: r.seen.peakFds,
    crashes: r.seen.crashes,
  };
  const rows: BenchRow[] = Object.entries(figures).map(([metric, value]) => ({
    case: r.c,
    impl: 'ours',
    metric,
    value,
  }));
  const goals = Object.entries(GOALS).map(([metric, g]) => {
    const v = figures[metric]!;
    const holds = g.op === '≥' ? v >= g.value : g.op === '≤' ? v <= g.value : v === g.value;
    return `${metric} ${g.op} ${g.value}: ${holds ? 'holds' : 'FAILS'} (${Number(v.toPrecision(4))})`;
  });
  return {
    rows,
    notes: [
      `${r.seconds} s soak (VGPU_SOAK_SECONDS), one run (--runs does not apply): the seed (${MODEL} model, H = ${QUICK_ROUNDS.hyper.steps} steps of ${QUICK_ROUNDS.hyper.batchSize}×${QUICK_ROUNDS.hyper.context} tokens, ${QUICK_ROUNDS.roundMs / 1000} s round deadline) in a child process, ${VOLUNTEERS} honest Node volunteers (tab's participant loop and swarm client, CPU trainer) in child processes, and ${attackList(r.c)}, on loopback inside the private network namespace`,
      `goals (issue 13): ${goals.join('; ')}`,
      `honest_rounds_completed = ${completed}/${assigned}: per volunteer, the round issues that assigned it (every issue but the one open at the end) and those among them that were the last issue of their round and got its accepted receipt`,
      `honest_pieces_served = ${arrived}/${requested}: pieces missing at the start of downloads begun ≥ ${PIECE_WAIT_BOUND_MS / 1000} s before the end, and those that arrived within ${PIECE_WAIT_BOUND_MS / 1000} s of that start`,
      `honest_piece_p95_s over ${waits.length} waits for a piece (download start to first piece, then piece to piece; a download unfinished at the end adds its wait so far); max ${Number(Math.max(0, ...waits).toPrecision(3))} s`,
      `seed_peak_rss_mib: VmHWM of the seed process (largest over restarts); seed_open_fds: the most entries of /proc/<pid>/fd at a ${SAMPLE_MS / 1000} s sample; crashes: seed exits before the final stop${r.seen.exits.length ? ` (${r.seen.exits.join('; ')})` : ''}`,
      `seed issued ${r.seen.issued.length} round manifests; assigned rounds (issues) per honest volunteer: ${perVolunteer.map((x) => `${x.completed}/${x.assigned}`).join(', ')}`,
      ...r.honest.map(
        (v, i) =>
          `volunteer ${i + 1} (${v.peerId.slice(-8) || 'never connected'}): accepted rounds [${v.acceptedRounds.join(', ')}], rejected [${v.rejectedRounds.join(', ')}]; downloads [${v.downloads.map(describeDownload).join(', ')}]; ${v.seedLinkDrops} seed link drops, ${v.errors} errors, ${v.skipped} skipped${v.firstProblems.length ? `; first: ${v.firstProblems.join(' | ')}` : ''}`,
      ),
      ...caseAttacks(r.c)!.map((name) => {
        const a = SOAK_ATTACKS[name]!;
        const { counts = {}, error } = r.attacked[name] ?? {};
        return `attack ${name} (item ${a.item}): ${a.summary}; did: ${formatCounts(counts)}${error ? `; stopped by an error: ${error}` : ''}`;
      }),
    ],
  };
}
