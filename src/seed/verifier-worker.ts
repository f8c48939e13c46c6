// The seed's verification thread (started by verifier.ts): holds the run's model shape and token
// files, and runs verify.ts's verifyRound on each round the coordinator closes, re-executing on the
// CPU reference trainer, so the seed's event loop keeps serving meanwhile.
import { parentPort, workerData } from 'node:worker_threads';
import { TokenDataset } from '../data';
import { type RoundWork, verifyRound } from '../fed';
import { paramLayout } from '../model';
import { createCpuTrainer } from '../volunteer';
import type { VerifierData, VerifierReply, VerifierRequest } from './verifier';

const data = workerData as VerifierData;
const layout = paramLayout(data.model);
const dataset = new TokenDataset(data.train, data.validation);
/** Which batches the loss filter draws and who is re-executed: unpredictable to volunteers. */
const random = () => crypto.getRandomValues(new Uint32Array(1))[0]! / 2 ** 32;

parentPort!.on('message', async ({ id, job }: VerifierRequest) => {
  let reply: VerifierReply;
  try {
    const work: RoundWork = { layout, manifest: job.manifest, start: job.start, dataset, earlier: job.earlier };
    const { verdicts } = await verifyRound(work, job.updates, job.streaks, {
      createTrainer: createCpuTrainer,
      random,
      maxReexecutions: job.maxReexecutions,
    });
    const plain = [...verdicts].map(
      ([peer, v]) => [peer, { accepted: v.accepted, reason: v.reason, excused: v.excused, caught: v.caught }] as const,
    );
    reply = { id, verdicts: new Map(plain) };
  } catch (e) {
    reply = { id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  parentPort!.postMessage(reply);
});
