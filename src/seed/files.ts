// The run folder on disk: crash-safe and space-safe writes (the previous state stays in force when
// a write fails: a full disk, a crash), and the seed's peer key, which never leaves it.
import { appendFile, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';

/** Temporary files of atomic writes end with this and the writer's pid. */
const TMP_SUFFIX = '.tmp-';

/** fsync a directory: makes a rename or a new file in it durable. */
export async function syncDir(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * Write to a temporary file, fsync it, rename it over the target, fsync the directory: readers and
 * a restart after a crash see the old or the new file, never half. On failure (ENOSPC…) the
 * temporary file is removed and the old file stays.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}${TMP_SUFFIX}${process.pid}`;
  try {
    const file = await open(tmp, 'w', mode);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  await syncDir(dirname(path));
}

/** Appends to a file and fsyncs it (and its directory when the file is new). */
export async function appendDurable(path: string, data: string): Promise<void> {
  const isNew = !(await readIfExists(path));
  await appendFile(path, data);
  const file = await open(path, 'r+');
  try {
    await file.sync();
  } finally {
    await file.close();
  }
  if (isNew) await syncDir(dirname(path));
}

/** Removes temporary files a crash or a failed write left in `dir` (not recursive). */
export async function removeStaleTemporaries(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[]))
    if (name.includes(TMP_SUFFIX)) await rm(join(dir, name), { force: true });
}

export async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * The seed's Ed25519 key, created with a new run folder and kept (mode 600) in it. A folder that
 * already holds a run but lost its key is refused: a new key would be a new identity, and every
 * receipt and manifest of the run would then name a seed that no longer exists.
 */
export async function loadOrCreatePeerKey(runDir: string, existingRun: boolean): Promise<PrivateKey> {
  const path = join(runDir, 'peer-key');
  const stored = await readIfExists(path);
  if (stored) return privateKeyFromProtobuf(stored);
  if (existingRun)
    throw new Error(
      `run folder ${runDir} holds a run but no peer-key: restore the key from a backup (a new key would be another seed, and every receipt of this run would name one that no longer exists), or start a new run in another --run folder`,
    );
  const key = await generateKeyPair('Ed25519');
  await writeFileAtomic(path, privateKeyToProtobuf(key), 0o600);
  return key;
}
