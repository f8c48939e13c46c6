// Independent CPU-bound jobs, spread over child Node processes: a benchmark that measures losses and
// bytes, not time, gains the whole machine's CPUs this way (one process per core). Each child is a
// Node process with tsx's loader (`--import tsx`, resolved from the working directory: the repository
// root under npm scripts and Playwright), so it imports TypeScript whoever started the parent; it
// imports `module` once and runs its exported `fn` on one job at a time. Jobs and results cross as
// JSON, so both must be plain data.
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The child's entry: bench/lib/job-process.ts. */
const ENTRY = fileURLToPath(new URL('./job-process.ts', import.meta.url));
/** tsx's loader; and a WebSocket client for libp2p, which Node 20 has only behind a flag. */
const CHILD_EXEC_ARGV = [
  '--import',
  'tsx',
  ...(Number(process.versions.node.split('.')[0]) < 22 ? ['--experimental-websocket'] : []),
];

/** A child process that imports `module` and answers each job it is sent with `fn(job)` (a JobReply). */
export function forkJobProcess(module: URL, fn: string): ChildProcess {
  return fork(ENTRY, [module.href, fn], { execArgv: CHILD_EXEC_ARGV, serialization: 'json' });
}

/** A job's reply from the child: its result, or the message of what it threw. */
export type JobReply<R> = { result: R } | { error: string };

/**
 * Runs `fn(job)` from `module` for every job, at most `processes` at a time, each in a child process;
 * resolves with the results in the jobs' order. The first job that throws rejects the whole run
 * (its message and the job's index), after the children are stopped.
 */
export async function runInProcesses<J, R>(module: URL, fn: string, jobs: J[], processes: number): Promise<R[]> {
  const results = new Array<R>(jobs.length);
  let next = 0;
  let failed: Error | undefined;
  const children = Array.from({ length: Math.min(processes, jobs.length) }, () => forkJobProcess(module, fn));
  const fail = (e: Error) => {
    if (failed) return;
    failed = e;
    for (const child of children) child.kill();
  };
  const drain = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      let running: number | undefined;
      const take = () => {
        running = undefined;
        if (failed || next === jobs.length) {
          child.disconnect();
          return;
        }
        running = next++;
        child.send(jobs[running]!);
      };
      child.on('message', (reply: JobReply<R>) => {
        if ('error' in reply) fail(new Error(`job ${running} failed: ${reply.error}`));
        else results[running!] = reply.result;
        take();
      });
      child.on('exit', (code, signal) => {
        if (running !== undefined)
          fail(new Error(`job ${running}'s process exited (${signal ?? code}) before it replied`));
        resolve();
      });
      take();
    });
  await Promise.all(children.map(drain));
  if (failed) throw failed;
  return results;
}
