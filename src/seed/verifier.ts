// Verification of each round's work, off the seed's event loop: a worker thread (verifier-worker.ts)
// runs verify.ts's verifyRound, whose re-executions take the CPU for tens of seconds. Started on the
// first round that has updates; a thread that died is started again for the next one.
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
export interface VerifierRequest {
  id: number;
  job: VerifyJob;
}
export type VerifierReply = { id: number; verdicts: Verdicts } | { id: number; error: string };

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
  const pending = new Map<number, { resolve(v: Verdicts): void; reject(e: Error): void }>();
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
      return new Promise<Verdicts>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        thread().postMessage({ id, job } satisfies VerifierRequest);
      });
    },
    async stop() {
      const w = worker;
      failAll(new Error('the seed is stopping'));
      await w?.terminate();
    },
  };
}
