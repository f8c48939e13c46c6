// The run folder on disk: atomic writes, and the seed's peer key, which never leaves it.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';

/** Write to a temporary file, fsync it, rename it over the target: readers see old or new, never half. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const file = await open(tmp, 'w', mode);
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
}

export async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The seed's Ed25519 key, created on first start and kept (mode 600) in the run folder. */
export async function loadOrCreatePeerKey(runDir: string): Promise<PrivateKey> {
  const path = join(runDir, 'peer-key');
  const stored = await readIfExists(path);
  if (stored) return privateKeyFromProtobuf(stored);
  const key = await generateKeyPair('Ed25519');
  await writeFileAtomic(path, privateKeyToProtobuf(key), 0o600);
  return key;
}
