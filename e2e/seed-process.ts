// Runs the real seed CLI (bin/vgpu-seed.js) as a child process, for the tests that stop it
// with a signal or kill it outright.
import { type ChildProcess, spawn } from 'node:child_process';

export interface SeedProcess {
  child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves with the first output line matching `pattern`; rejects if the seed exits first. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

export function startSeedProcess(args: string[]): SeedProcess {
  const child = spawn(process.execPath, ['bin/vgpu-seed.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      for (const l of listeners) l();
      resolve(code);
    }),
  );
  return {
    child,
    output: () => out,
    exited,
    waitFor: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => done(new Error(`no output matching ${pattern} in ${timeoutMs} ms; output:\n${out}`)),
          timeoutMs,
        );
        const check = () => {
          const match = out.match(pattern);
          if (match) done(undefined, match);
          else if (child.exitCode !== null || child.signalCode !== null)
            done(new Error(`seed exited before printing ${pattern}:\n${out}`));
        };
        const done = (error?: Error, match?: RegExpMatchArray) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolve(match!);
        };
        listeners.add(check);
        check();
      }),
  };
}
