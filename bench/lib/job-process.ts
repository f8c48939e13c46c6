// A child of runInProcesses (bench/lib/processes.ts): `job-process.ts <module URL> <export>` imports
// the module, then answers each job the parent sends with the export's result, or the error it threw.
// It exits when the parent disconnects.
import type { JobReply } from './processes';

const [moduleUrl, fnName] = process.argv.slice(2);
if (!moduleUrl || !fnName || !process.send) throw new Error('job-process.ts runs only as a child of runInProcesses');
// Listen before the import resolves: a job the parent sends meanwhile would otherwise be lost.
const loaded = import(moduleUrl).then((module: Record<string, unknown>) => {
  const fn = module[fnName];
  if (typeof fn !== 'function') throw new Error(`${moduleUrl} has no function ${fnName}`);
  return fn as (job: unknown) => unknown;
});
loaded.catch(() => {}); // a failed import is each job's reply, not an unhandled rejection
process.on('message', async (job: unknown) => {
  let reply: JobReply<unknown>;
  try {
    reply = { result: await (await loaded)(job) };
  } catch (e) {
    reply = { error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  process.send!(reply);
});
