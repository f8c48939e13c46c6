// The seed's update spool (src/fed/spool.ts): a round's update bodies in the run folder's `spool/`,
// one folder per issue of a round, until the round is verified. Nothing in it outlives the process
// that wrote it (a restart opens its round afresh), so opening it clears it.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { UpdateSpool } from '../fed';

export const SPOOL_FOLDER = 'spool';

export async function openFileSpool(runDir: string): Promise<UpdateSpool> {
  const root = join(runDir, SPOOL_FOLDER);
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const batchDir = (batch: number) => join(root, String(batch));
  // Peer ids are base58 or base36 text; encoded all the same, since a file name must never be a path.
  const file = (batch: number, peer: string) => join(batchDir(batch), encodeURIComponent(peer));
  return {
    async put(batch, peer, body) {
      await mkdir(batchDir(batch), { recursive: true });
      await writeFile(file(batch, peer), body);
    },
    async get(batch, peer) {
      return new Uint8Array(await readFile(file(batch, peer)));
    },
    async drop(batch) {
      await rm(batchDir(batch), { recursive: true, force: true });
    },
  };
}
