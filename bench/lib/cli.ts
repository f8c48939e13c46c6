// What every benchmark command shares: its arguments, and how a result is written and printed
// (bench/run.ts, and bench/node-main.ts bundled for a machine without npm).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type BenchResult, formatTable } from './results';

export interface BenchOptions {
  cases?: string[];
  runs?: number;
}

/**
 * The cases a run takes: those named with --cases, else `defaults` (all of `known`); a name `known`
 * lacks throws, listing the known ones.
 */
export function chooseCases(
  bench: string,
  named: string[] | undefined,
  known: Record<string, unknown>,
  defaults: string[] = Object.keys(known),
): string[] {
  const cases = named ?? defaults;
  for (const c of cases)
    if (!(c in known)) throw new Error(`unknown ${bench} case ${c}; known: ${Object.keys(known).join(', ')}`);
  return cases;
}

export interface BenchArgs {
  name: string;
  options: BenchOptions;
  /** --node: a page benchmark run in Node on Dawn instead of in Chromium. */
  node: boolean;
  /** --out: the folder for the result file. */
  out?: string;
}

export const BENCH_USAGE_OPTIONS = '[--cases a,b] [--runs n] [--node] [--out dir]';

export function parseBenchArgs(args: string[]): BenchArgs {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      cases: { type: 'string' },
      runs: { type: 'string' },
      node: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  return {
    name: positionals[0] ?? '',
    options: { cases: values.cases?.split(',').filter(Boolean), runs: values.runs ? Number(values.runs) : undefined },
    node: values.node,
    out: values.out,
  };
}

/** Writes `<dir>/<file>.json` (the result and the date), prints the notes and the table; returns the path. */
export async function saveResult(dir: string, file: string, result: BenchResult, started: number): Promise<string> {
  const out = join(dir, `${file}.json`);
  await mkdir(dir, { recursive: true });
  await writeFile(out, `${JSON.stringify({ ...result, date: new Date().toISOString() }, null, 2)}\n`);
  console.log(
    `\n${file} on ${String(result.adapter.description || result.adapter.architecture || result.adapter.vendor)}`,
  );
  for (const note of result.notes ?? []) console.log(`  note: ${note}`);
  console.log(`\n${formatTable(result.rows)}\n\nwrote ${out} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return out;
}
