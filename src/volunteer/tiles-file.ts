// Where a Node volunteer keeps its tuned matmul tiles: a JSON file, so that a restarted volunteer
// (a new process, a new peer) reuses what was measured on its adapter, as a tab reuses what it kept
// in IndexedDB. Only the tiles: the volunteer's other records stay in memory (./storage.ts).
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../seed/files';
import type { ProgressStore } from '../storage';

/** $XDG_CACHE_HOME/vgpu/matmul-tiles.json, or ~/.cache/vgpu/matmul-tiles.json. */
export function defaultTilesFile(): string {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'vgpu', 'matmul-tiles.json');
}

/**
 * Progress records kept in one JSON file, by name. A missing or unreadable file reads as empty, so
 * its records are measured again and the file rewritten. Each write replaces the file whole
 * (writeFileAtomic: a temporary file renamed over it), one at a time, over what the file holds then.
 */
export function jsonFileStore(path: string): ProgressStore {
  const read = async (): Promise<Record<string, unknown>> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(path, 'utf8'));
    } catch {
      return {};
    }
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  };
  const write = async (name: string, value: unknown) => {
    const records = { ...(await read()), [name]: value };
    await writeFileAtomic(path, `${JSON.stringify(records, null, 2)}\n`);
  };
  let writing: Promise<void> = Promise.resolve();
  return {
    getProgress: async <T>(name: string) => (await read())[name] as T | undefined,
    setProgress(name, value) {
      // After the write before it, whether that one failed or not.
      writing = writing.catch(() => {}).then(() => write(name, value));
      return writing;
    },
  };
}
