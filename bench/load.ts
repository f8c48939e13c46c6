// `npm run bench -- load [--cases seed,helpers=2]`: real processes (issue 16 item 5). VOLUNTEERS Node
// volunteers, each a child process of its own (src/volunteer: the tab's participant loop and swarm
// client, WebRTC between them, training on the CPU reference model), against:
//   seed       one seed, in a child process;
//   helpers=2  a root and 2 helper seeds (src/helper), each in a child process of its own; the
//              volunteers are given the root's page and spread over it and its helpers.
// Everything runs inside the benchmark's private network namespace, on loopback, with the tiny
// model and rounds of H = 4 steps of 2×16 tokens (as the soak's). It lasts until ROUNDS rounds have
// closed after the first that assigned volunteers, or MAX_SECONDS. Rows:
//   rounds_closed        rounds the seed closed;
//   round_s              median time between two closes;
//   val_loss_first/last  the seed's validation loss at the start and after the last close;
//   loss_fell            1 when the last is below the first;
//   volunteers_credited  the volunteers with at least one receipt, over VOLUNTEERS;
//   updates_accepted     the seed's accepted updates over the run.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { HelperStatus } from '../src/helper';
import { modelPreset } from '../src/model';
import { loadOrCreateData } from '../src/seed/data';
import { loadOrCreatePeerKey } from '../src/seed/files';
import { LEDGER_FILE } from '../src/seed/ledger';
import { type BenchOptions, chooseCases } from './lib/cli';
import { endChild, type JobChild, startJobChild } from './lib/processes';
import type { BenchResult, BenchRow } from './lib/results';
import { type HelperJob, quickSeedStart, type SeedJob, type StartedSeed, type VolunteerJob } from './lib/soak-jobs';

const JOBS = new URL('./lib/soak-jobs.ts', import.meta.url);
const CASES: Record<string, number> = { seed: 0, 'helpers=2': 2 };
const VOLUNTEERS = 32;
const ROUNDS = 3;
/** A bound on the whole case: 32 processes loading and training on 2 cores take minutes a round. */
const MAX_SECONDS = 900;
const MODEL = 'tiny';
const STATUS_POLL_MS = 2_000;
/**
 * The benchmark reads the seed's documents from an address of its own: the 32 volunteers on 127.0.0.1
 * come near the seed's HTTP connections per address (HTTP_MAX_CONNECTIONS_PER_IP, 32).
 */
const OBSERVER_HOST = '127.0.0.2';

/** GET `path` of `base` from OBSERVER_HOST, as text; rejects on a refusal or after 10 s. */
function observe(base: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(new URL(path, base), { localAddress: OBSERVER_HOST, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${path}: ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: timed out`)));
    req.on('error', reject);
  });
}

interface Status {
  round: number;
  acceptedUpdates: number;
  history: { round: number; valLoss: number }[];
}

export async function runLoadBench(_base: string, options: BenchOptions): Promise<BenchResult> {
  const cases = chooseCases('load', options.cases, CASES);
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  for (const c of cases) {
    const r = await loadCase(c, CASES[c]!);
    rows.push(...r.rows);
    notes.push(...r.notes);
  }
  notes.push(
    `${VOLUNTEERS} Node volunteers, each its own process (CPU reference trainer), the tiny model, rounds of H = 4 steps of 2×16 tokens, the seed's default verification (loss filter on every update, up to 4 re-executions a round); until ${ROUNDS} rounds closed after the first that assigned anyone, at most ${MAX_SECONDS} s`,
  );
  return { adapter: { description: 'none: seed, helpers and volunteers on the CPU, in Node' }, rows, notes };
}

async function loadCase(c: string, helpers: number): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'vgpu-bench-load-'));
  const children: JobChild<SeedJob | VolunteerJob | HelperJob>[] = [];
  const start = (fn: string) => {
    const child = startJobChild<SeedJob | VolunteerJob | HelperJob>(JOBS, fn);
    children.push(child);
    return child;
  };
  try {
    const appDir = join(dir, 'app');
    const runDir = join(dir, 'run');
    await mkdir(appDir);
    await loadOrCreateData(runDir, modelPreset(MODEL).vocab);
    const helperDirs = Array.from({ length: helpers }, (_, k) => join(dir, `helper-${k}`));
    const helperIds: string[] = [];
    for (const d of helperDirs) helperIds.push(peerIdFromPrivateKey(await loadOrCreatePeerKey(d, false)).toString());
    const seed = start('soakSeed');
    const { url } = await seed.call<StartedSeed>(quickSeedStart(runDir, appDir, MODEL, helperIds));
    const status = async () => JSON.parse(await observe(url, '/status.json')) as Status;
    const helperChildren = helperDirs.map(() => start('loadHelper'));
    await Promise.all(
      helperChildren.map((h, k) =>
        h.call<HelperStatus>({ kind: 'start', runDir: helperDirs[k]!, upstream: url, appDir }),
      ),
    );
    // The root lists its helpers before the volunteers arrive, so they spread over all of them.
    while (helpers > 0 && (JSON.parse(await observe(url, '/swarm.json')).helpers?.length ?? 0) < helpers)
      await delay(500);
    const volunteers = Array.from({ length: VOLUNTEERS }, () => start('soakVolunteer'));
    await Promise.all(volunteers.map((v) => v.call({ kind: 'ready' })));
    const t0 = Date.now();
    const endAt = t0 + MAX_SECONDS * 1000;
    console.log(`  ${c}: ${VOLUNTEERS} volunteers started${helpers ? `, ${helpers} helpers` : ''}`);
    // Each runs until endAt or until it is ended below; what it earned is read from the seed's ledger.
    for (const v of volunteers)
      void v.call({ kind: 'run', seedUrl: url, endAt, pieceWaitBoundMs: 60_000 }).catch(() => {});
    // Bounded: polls until ROUNDS closes after the first round that had updates, or MAX_SECONDS.
    const closes: number[] = [];
    let s = await status();
    const first = s.history[0]!.valLoss;
    let lastRound = s.round;
    while (Date.now() < endAt && closes.length < ROUNDS + 1) {
      await delay(STATUS_POLL_MS);
      // A poll the seed turned away (it was busy) is taken again at the next.
      s = await status().catch(() => s);
      if (s.round > lastRound) {
        for (let r = lastRound; r < s.round; r++) closes.push(Date.now());
        lastRound = s.round;
        console.log(
          `  ${c}: round ${s.round - 1} closed at ${((Date.now() - t0) / 1000).toFixed(0)} s, validation loss ${s.history.at(-1)!.valLoss.toFixed(4)}, ${s.acceptedUpdates} updates accepted`,
        );
      }
    }
    // Read from the run folder: the seed's HTTP may be slow to answer under this load (it once took over 10 s).
    const ledger = await readFile(join(runDir, LEDGER_FILE), 'utf8').catch(() => '');
    const credited = new Set(
      ledger
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(JSON.parse(line).body) as { peer: string }).peer),
    ).size;
    await Promise.all(volunteers.map((v) => endChild(v)));
    const helperStatus = await Promise.all(
      helperChildren.map((h) => h.call<HelperStatus>({ kind: 'stop' }).catch(() => undefined)),
    );
    await seed.call({ kind: 'stop' }).catch(() => {});
    const gaps = closes.slice(1).map((t, k) => (t - closes[k]!) / 1000);
    const last = s.history.at(-1)!.valLoss;
    const row = (metric: string, value: number) => ({ case: c, impl: 'ours', metric, value });
    return {
      rows: [
        row('rounds_closed', s.round),
        row('round_s', gaps.length ? gaps.sort((a, b) => a - b)[gaps.length >> 1]! : Number.NaN),
        row('val_loss_first', first),
        row('val_loss_last', last),
        row('loss_fell', last < first ? 1 : 0),
        row('volunteers_credited', credited / VOLUNTEERS),
        row('updates_accepted', s.acceptedUpdates),
      ],
      notes: [
        `${c}: ${s.round} rounds closed in ${((Date.now() - t0) / 1000).toFixed(0)} s, validation loss ${s.history.map((h) => h.valLoss.toFixed(3)).join(' → ')}; ${credited} of ${VOLUNTEERS} volunteers credited${helperStatus.length ? `; helpers sent ${helperStatus.map((h) => h?.partialsSent ?? '?').join(' and ')} partials` : ''}`,
      ],
    };
  } finally {
    await Promise.all(children.map((child) => endChild(child)));
    await rm(dir, { recursive: true, force: true });
  }
}
