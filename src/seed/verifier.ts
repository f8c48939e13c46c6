// Verification of each round's work, off the seed's event loop: a worker thread (verifier-worker.ts)
// runs verify.ts's verifyRound, whose re-executions take the CPU for tens of seconds. Started on the
// first round that has updates; a thread that died is started again for the next one. The thread gets
// the round's sketches with the job and asks for each update when a check needs it (the coordinator
// loads it from its spool), so neither side holds the round's updates at once.
import { Worker } from 'node:worker_threads';
import type { TokenDataset } from '../data';
import type { Verdicts, VerifyJob } from '../fed';
import type { GptConfig } from '../model';

/** What the thread is started with. */
export interface VerifierData {
  model: GptConfig;
  train: Uint32Array;
  validation: Uint32Array;
}
/** A VerifyJob as it crosses to the thread: the updates as their peers and sketches. */
export type PlainVerifyJob = Omit<VerifyJob, 'updates'> & { peers: string[]; sketches: Map<string, Float32Array> };
/** To the thread: a job, or an update it asked for (`load`: its request's number). */
export type VerifierRequest =
  | { id: number; job: PlainVerifyJob }
  | { id: number; load: number; vector: Float32Array }
  | { id: number; load: number; error: string };
/** From the thread: the verdicts or why there are none, or a request for an update. */
export type VerifierReply =
  | { id: number; verdicts: Verdicts }
  | { id: number; error: string }
  | { id: number; load: number; peer: string };

export interface Verifier {
  verify(job: VerifyJob): Promise<Verdicts>;
  /** Ends the thread; a verification in progress fails. */
  stop(): Promise<void>;
}

const WORKER = new URL('./verifier-worker.ts', import.meta.url).href;
/** The thread loads TypeScript through tsx's loader, as the seed does (bin/vgpu-seed.js). */
const BOOT = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(WORKER)}); })`;

export function startVerifier(c: { model: GptConfig; dataset: TokenDataset }): Verifier {
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, { job: VerifyJob; resolve(v: Verdicts): void; reject(e: Error): void }>();
  const failAll = (e: Error) => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
    worker = undefined;
  };
  const thread = (): Worker => {
    if (worker) return worker;
    const data: VerifierData = { model: c.model, train: c.dataset.train, validation: c.dataset.validation };
    const w = new Worker(BOOT, { eval: true, workerData: data });
    w.on('message', (reply: VerifierReply) => {
      const p = pending.get(reply.id);
      if ('load' in reply) {
        const { id, load } = reply;
        if (!p) return w.postMessage({ id, load, error: 'no such job' } satisfies VerifierRequest);
        p.job.updates.load(reply.peer).then(
          (vector) => w.postMessage({ id, load, vector } satisfies VerifierRequest, [vector.buffer as ArrayBuffer]),
          (e: Error) => w.postMessage({ id, load, error: e.message } satisfies VerifierRequest),
        );
        return;
      }
      pending.delete(reply.id);
      if ('error' in reply) p?.reject(new Error(`verification failed: ${reply.error}`));
      else p?.resolve(reply.verdicts);
    });
    w.on('error', (e) => failAll(new Error(`the verification thread failed: ${e.message}`)));
    w.on('exit', (code) => w === worker && failAll(new Error(`the verification thread exited (code ${code})`)));
    worker = w;
    return w;
  };
  return {
    verify(job) {
      const id = nextId++;
      const { updates, ...rest } = job;
      const plain: PlainVerifyJob = {
        ...rest,
        peers: [...updates.peers],
        sketches: new Map(updates.peers.map((peer) => [peer, updates.sketch(peer)])),
      };
      return new Promise<Verdicts>((resolve, reject) => {
        pending.set(id, { job, resolve, reject });
        thread().postMessage({ id, job: plain } satisfies VerifierRequest);
      });
    },
    async stop() {
      const w = worker;
      failAll(new Error('the seed is stopping'));
      await w?.terminate();
    },
  };
}
