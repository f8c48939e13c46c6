// The seed's verification thread (started by verifier.ts): holds the run's model shape and token
// files, and runs verify.ts's verifyRound on each round the coordinator closes, re-executing on the
// CPU reference trainer, so the seed's event loop keeps serving meanwhile.
import { parentPort, workerData } from 'node:worker_threads';
import { TokenDataset } from '../data';
import { type RoundUpdates, type RoundWork, verifyRound } from '../fed';
import { paramLayout } from '../model';
import { createCpuTrainer } from '../volunteer';
import type { VerifierData, VerifierReply, VerifierRequest } from './verifier';

const data = workerData as VerifierData;
const layout = paramLayout(data.model);
const dataset = new TokenDataset(data.train, data.validation);
/** Which batches the loss filter draws and who is re-executed: unpredictable to volunteers. */
const random = () => crypto.getRandomValues(new Uint32Array(1))[0]! / 2 ** 32;

/** Updates asked of the seed's thread and not yet sent, by request number. */
const loading = new Map<number, { resolve(v: Float32Array): void; reject(e: Error): void }>();
let loads = 0;

/** Asks the seed's thread for an update of job `id` (it reads the spool). */
function load(id: number, peer: string): Promise<Float32Array> {
  const n = loads++;
  return new Promise((resolve, reject) => {
    loading.set(n, { resolve, reject });
    parentPort!.postMessage({ id, load: n, peer } satisfies VerifierReply);
  });
}

parentPort!.on('message', async (request: VerifierRequest) => {
  if ('load' in request) {
    const p = loading.get(request.load);
    loading.delete(request.load);
    if ('vector' in request) p?.resolve(request.vector);
    else p?.reject(new Error(request.error));
    return;
  }
  const { id, job } = request;
  let reply: VerifierReply;
  try {
    const work: RoundWork = {
      layout,
      manifest: job.manifest,
      start: job.start,
      dataset,
      earlier: job.earlier,
      secondMoment: job.secondMoment,
    };
    const updates: RoundUpdates = {
      peers: job.peers,
      sketch: (peer) => job.sketches.get(peer)!,
      load: (peer) => load(id, peer),
    };
    const { verdicts } = await verifyRound(work, updates, job.streaks, {
      createTrainer: createCpuTrainer,
      random,
      maxReexecutions: job.maxReexecutions,
    });
    const plain = [...verdicts].map(([peer, v]) => {
      const { accepted, reason, excused, caught, reexecution } = v;
      return [
        peer,
        { accepted, reason, excused, caught, secondMoment: reexecution?.passed ? reexecution.secondMoment : undefined },
      ] as const;
    });
    reply = { id, verdicts: new Map(plain) };
  } catch (e) {
    reply = { id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  parentPort!.postMessage(reply);
});
