// The soak and load benchmarks' child processes (bench/soak.ts, bench/load.ts), each a job-process.ts
// child: the seed, in a process of its own so that its memory, its open files and a crash are its
// own; each honest volunteer, a Node volunteer (src/volunteer: the tab's participant loop and swarm
// client, on the CPU reference trainer) that measures what it gets; and a helper seed (src/helper).
import '../../src/seed/promise-shim'; // first: libp2p on Node 20
import { DEFAULT_FED_SETTINGS, type FedSettings } from '../../src/fed';
import { type Helper, type HelperStatus, startHelper } from '../../src/helper';
import { type Seed, startSeed } from '../../src/seed';
import type { FetchProgress, SeedInfo } from '../../src/swarm';
import { runNodeVolunteer } from '../../src/volunteer';

/**
 * The seed's rounds in the soak and load benchmarks: H = 4 local steps of 2×16 tokens, which the CPU
 * trains in about a second, so several rounds fit in a run.
 */
export const QUICK_ROUNDS: FedSettings = {
  ...DEFAULT_FED_SETTINGS,
  hyper: { ...DEFAULT_FED_SETTINGS.hyper, steps: 4, batchSize: 2, context: 16 },
};

// --- The seed.

export type SeedJob =
  | {
      kind: 'start';
      runDir: string;
      /** The HTTP app folder (the soak serves none: the HTTP attacks use onnxruntime's files). */
      appDir: string;
      model: string;
      fed: Partial<FedSettings>;
      /** 0 on the first start; a restart after a crash takes the same ports, so volunteers find it again. */
      httpPort: number;
      p2pPort: number;
      /** Helper seeds the seed allows (the load benchmark's); none by default. */
      helpers?: string[];
    }
  /** The rounds issued since the last 'rounds' or 'start'. */
  | { kind: 'rounds' }
  | { kind: 'stop' };

/** A seed's first start for the soak and load benchmarks: quick rounds, ports the system picks. */
export function quickSeedStart(
  runDir: string,
  appDir: string,
  model: string,
  helpers?: string[],
): Extract<SeedJob, { kind: 'start' }> {
  return { kind: 'start', runDir, appDir, model, fed: QUICK_ROUNDS, httpPort: 0, p2pPort: 0, helpers };
}

export interface StartedSeed {
  url: string;
  info: SeedInfo;
  httpPort: number;
  p2pPort: number;
}

/** One issue of a round manifest: a round is issued again when it assigned nobody or got no update. */
export interface IssuedRound {
  round: number;
  /** Who the seed assigned a shard in this issue. */
  assigned: string[];
  /** When the soak's sampler first saw it (ms since the epoch). */
  at: number;
}

/**
 * How often the seed's process looks at its open round. An issue that assigns an honest volunteer
 * stays open until that volunteer reports (a fetch and a training: seconds) or the deadline, so none
 * of those is missed.
 */
const ROUND_SAMPLE_MS = 100;

/** Seed log lines not printed. */
const QUIET_LOG = /^(refused an update request|rejected an update) from/;

let running: { seed: Seed; sampler: ReturnType<typeof setInterval>; issued: IssuedRound[] } | undefined;

export async function soakSeed(job: SeedJob): Promise<StartedSeed | IssuedRound[]> {
  if (job.kind === 'start') {
    if (running) throw new Error('the soak seed is already running');
    const seed = await startSeed({
      runDir: job.runDir,
      appDir: job.appDir,
      model: job.model,
      fed: job.fed,
      httpPort: job.httpPort,
      p2pPort: job.p2pPort,
      helpers: job.helpers,
      // The attacks' refusals and rejections come hundreds a minute: the attacks count them instead.
      log: (line) => QUIET_LOG.test(line) || console.log(`  [seed] ${line}`),
    });
    const issued: IssuedRound[] = [];
    let last: unknown;
    const sampler = setInterval(() => {
      const doc = seed.coordinator.currentRound();
      if (!doc || doc === last) return;
      last = doc;
      const m = JSON.parse(doc.body) as { round: number; assignments: Record<string, number> };
      issued.push({ round: m.round, assigned: Object.keys(m.assignments), at: Date.now() });
    }, ROUND_SAMPLE_MS);
    running = { seed, sampler, issued };
    const info = seed.info();
    const p2pPort = Number(/\/tcp\/(\d+)\//.exec(info.addrs[0] ?? '')?.[1]);
    return { url: seed.url, info, httpPort: Number(new URL(seed.url).port), p2pPort };
  }
  if (!running) throw new Error('the soak seed is not running');
  const issued = running.issued.splice(0);
  if (job.kind === 'stop') {
    clearInterval(running.sampler);
    await running.seed.stop();
    running = undefined;
  }
  return issued;
}

// --- A helper seed.

export type HelperJob = { kind: 'start'; runDir: string; upstream: string; appDir: string } | { kind: 'stop' };

let helper: Helper | undefined;

/** Starts a helper of the root at `upstream` (its page URL), or stops it; the helper's status. */
export async function loadHelper(job: HelperJob): Promise<HelperStatus> {
  if (job.kind === 'start') {
    helper = await startHelper({ ...job, log: (line) => console.log(`  [helper] ${line}`) });
    return helper.status();
  }
  if (!helper) throw new Error('no helper is running');
  const status = helper.status();
  await helper.stop();
  helper = undefined;
  return status;
}

// --- An honest volunteer.

/** 'ready' answers once the process has loaded everything (the soak's clock starts when all have). */
export type VolunteerJob = { kind: 'ready' } | VolunteerRun;

export interface VolunteerRun {
  kind: 'run';
  seedUrl: string;
  /** When the soak ends (ms since the epoch): the volunteer stops then. */
  endAt: number;
  /** Downloads that start later than this before `endAt` are left out of the piece counts. */
  pieceWaitBoundMs: number;
}

export interface VolunteerStats {
  peerId: string;
  /**
   * For each weights download: the seconds from its start to its first piece, then between pieces
   * (the wait for each next piece). A download unfinished at the end adds the time since its last
   * piece (or its start): a stalled piece counts with what it has waited so far.
   */
  pieceWaitsS: number[];
  /** Pieces missing at the start of downloads that started at least pieceWaitBoundMs before the end… */
  piecesRequested: number;
  /** …and of those, the ones that arrived within pieceWaitBoundMs of their download's start. */
  piecesArrived: number;
  /** Rounds of the receipts it got. */
  acceptedRounds: number[];
  rejectedRounds: number[];
  /** Each weights download: its seconds (so far, if unfinished), and where its bytes came from. */
  downloads: { seconds: number; fromSeedBytes: number; fromPeersBytes: number; done: boolean }[];
  /** Times the connection to the seed closed. */
  seedLinkDrops: number;
  /** Errors and skipped rounds the participant reported: how many, and the first few. */
  errors: number;
  skipped: number;
  firstProblems: string[];
}

/** Problems kept verbatim per volunteer (the rest are counted). */
const KEPT_PROBLEMS = 5;

interface DownloadTrack {
  startedAt: number;
  lastAt: number;
  missing: number;
  arrivedInBound: number;
  last: FetchProgress;
}

/** Runs one Node volunteer until `endAt`; returns what it measured. */
export async function soakVolunteer(job: VolunteerJob): Promise<VolunteerStats | 'ready'> {
  if (job.kind === 'ready') return 'ready';
  const stats: VolunteerStats = {
    peerId: '',
    pieceWaitsS: [],
    piecesRequested: 0,
    piecesArrived: 0,
    acceptedRounds: [],
    rejectedRounds: [],
    downloads: [],
    seedLinkDrops: 0,
    errors: 0,
    skipped: 0,
    firstProblems: [],
  };
  const downloads = new Map<number, DownloadTrack>();
  const problem = (text: string) => stats.firstProblems.length < KEPT_PROBLEMS && stats.firstProblems.push(text);
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), Math.max(0, job.endAt - Date.now()));
  try {
    // A volunteer that fails outright is an honest volunteer that got nothing more: it is reported, not thrown.
    await runNodeVolunteer({
      seedUrl: job.seedUrl,
      signal: stop.signal,
      onEvent: (e) => {
        const now = Date.now();
        if (e.type === 'connected') stats.peerId = e.peerId;
        else if (e.type === 'fetch-progress') {
          const d = downloads.get(e.download);
          if (!d) {
            const missing = e.progress.total - e.progress.held;
            downloads.set(e.download, { startedAt: now, lastAt: now, missing, arrivedInBound: 0, last: e.progress });
            return;
          }
          stats.pieceWaitsS.push((now - d.lastAt) / 1000);
          d.lastAt = now;
          d.last = e.progress;
          if (now - d.startedAt <= job.pieceWaitBoundMs) d.arrivedInBound++;
        } else if (e.type === 'seed-link' && !e.up && !stop.signal.aborted) stats.seedLinkDrops++;
        else if (e.type === 'receipt') stats.acceptedRounds.push(e.receipt.round);
        else if (e.type === 'not-credited') {
          stats.rejectedRounds.push(e.round);
          problem(`round ${e.round} not credited: ${e.reason}`);
        } else if (e.type === 'error') {
          stats.errors++;
          problem(`error: ${e.message}`);
        } else if (e.type === 'skipped') {
          stats.skipped++;
          problem(`round ${e.round} skipped: ${e.reason}`);
        }
      },
    }).catch((e: Error) => {
      stats.errors++;
      problem(`the volunteer stopped: ${e.message}`);
    });
  } finally {
    clearTimeout(timer);
  }
  const end = Date.now();
  for (const d of downloads.values()) {
    const done = d.last.held === d.last.total;
    if (!done) stats.pieceWaitsS.push((end - d.lastAt) / 1000);
    const { fromSeedBytes, fromPeersBytes } = d.last;
    stats.downloads.push({
      seconds: ((done ? d.lastAt : end) - d.startedAt) / 1000,
      fromSeedBytes,
      fromPeersBytes,
      done,
    });
    if (d.startedAt > job.endAt - job.pieceWaitBoundMs) continue;
    stats.piecesRequested += d.missing;
    stats.piecesArrived += d.arrivedInBound;
  }
  return stats;
}
