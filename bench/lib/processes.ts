// Independent CPU-bound jobs, spread over child Node processes: a benchmark that measures losses and
// bytes, not time, gains the whole machine's CPUs this way (one process per core). Each child is a
// Node process with tsx's loader (`--import tsx`, resolved from the working directory: the repository
// root under npm scripts and Playwright), so it imports TypeScript whoever started the parent; it
// imports `module` once and runs its exported `fn` on one job at a time. Jobs and results cross as
// JSON, so both must be plain data.
import { type ChildProcess, fork, type Serializable } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
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

/** A job-process.ts child running `fn` of a module; `call` sends one job at a time and resolves with its reply. */
export interface JobChild<J> {
  process: ChildProcess;
  call<R>(job: J): Promise<R>;
  exited: Promise<void>;
}

/** A long-lived child for jobs that keep state between calls (a seed started, then asked, then stopped). */
export function startJobChild<J extends Serializable>(module: URL, fn: string): JobChild<J> {
  const child = forkJobProcess(module, fn);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let queue: Promise<unknown> = Promise.resolve();
  const call = <R>(job: J) => {
    const reply = queue.then(
      () =>
        new Promise<R>((resolve, reject) => {
          const done = () => {
            child.off('message', onMessage);
            child.off('exit', onExit);
          };
          const onMessage = (r: JobReply<R>) => {
            done();
            if ('error' in r) reject(new Error(r.error));
            else resolve(r.result);
          };
          const onExit = () => {
            done();
            reject(new Error(`the ${fn} process exited`));
          };
          if (!child.connected) return reject(new Error(`the ${fn} process has exited`));
          child.on('message', onMessage);
          child.once('exit', onExit);
          child.send(job);
        }),
    );
    queue = reply.catch(() => {});
    return reply;
  };
  return { process: child, call, exited };
}

/** Ends a child: lets it exit once disconnected, kills it if it has not after a few seconds. */
export async function endChild(child: JobChild<unknown>): Promise<void> {
  if (child.process.connected) child.process.disconnect();
  await Promise.race([child.exited, delay(5_000)]);
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  await child.exited;
}
