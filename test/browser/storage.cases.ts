// Browser-side halves of the IndexedDB storage tests: each case opens its own database by name.

import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { deleteDB } from 'idb';
import { openStorage } from '../../src/storage';
import type { SignedDocument } from '../../src/swarm';

export interface PiecesResult {
  /** Bytes read back for each stored piece. */
  got: number[][];
  /** has() for the two stored hashes, then for a missing one. */
  has: boolean[];
  /** get() of a missing hash returned undefined. */
  missingIsUndefined: boolean;
  /** After put() again under the same hash, the new bytes. */
  overwritten: number[];
  /** A piece stored from a 4-byte view into a 1 MiB buffer: what comes back, and the size of the buffer it comes back in. */
  view: number[];
  viewBufferBytes: number;
  /** Pieces are still there after closing and reopening the database. */
  afterReopen: number[];
}

const list = (b: Uint8Array | undefined) => (b ? Array.from(b) : []);

export async function piecesCase(a: { db: string }): Promise<PiecesResult> {
  const s = await openStorage(a.db);
  try {
    await s.pieces.put('h1', Uint8Array.of(1, 2, 3));
    await s.pieces.put(
      'h2',
      new Uint8Array(1000).map((_, i) => i & 0xff),
    );
    const got = [list(await s.pieces.get('h1')), list(await s.pieces.get('h2'))];
    const has = [await s.pieces.has('h1'), await s.pieces.has('h2'), await s.pieces.has('nope')];
    const missingIsUndefined = (await s.pieces.get('nope')) === undefined;
    await s.pieces.put('h1', Uint8Array.of(9));
    const overwritten = list(await s.pieces.get('h1'));
    const big = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
    await s.pieces.put('view', big.subarray(100, 104));
    const v = await s.pieces.get('view');
    s.close();
    const again = await openStorage(a.db);
    const afterReopen = list(await again.pieces.get('h2')).slice(0, 5);
    again.close();
    return {
      got,
      has,
      missingIsUndefined,
      overwritten,
      view: list(v),
      viewBufferBytes: v?.buffer.byteLength ?? -1,
      afterReopen,
    };
  } finally {
    s.close();
    await deleteDB(a.db);
  }
}

export interface PeerKeyResult {
  /** Peer id and public key bytes: first open, a second call on the same open, after reopening. */
  ids: string[];
  publicKeys: number[][];
  type: string;
  /** The key signs and its public key verifies the signature. */
  signs: boolean;
  /** A different database gets a different key. */
  otherId: string;
}

export async function peerKeyCase(a: { db: string }): Promise<PeerKeyResult> {
  const ids: string[] = [];
  const publicKeys: number[][] = [];
  const first = await openStorage(a.db);
  const k1 = await first.loadOrCreatePeerKey();
  const k2 = await first.loadOrCreatePeerKey();
  first.close();
  const second = await openStorage(a.db);
  const k3 = await second.loadOrCreatePeerKey();
  second.close();
  for (const k of [k1, k2, k3]) {
    ids.push(peerIdFromPrivateKey(k).toString());
    publicKeys.push(Array.from(k.publicKey.raw));
  }
  const message = new TextEncoder().encode('hello');
  const signs = await k3.publicKey.verify(message, await k1.sign(message));
  const other = await openStorage(`${a.db}-other`);
  const otherId = peerIdFromPrivateKey(await other.loadOrCreatePeerKey()).toString();
  other.close();
  await deleteDB(a.db);
  await deleteDB(`${a.db}-other`);
  return { ids, publicKeys, type: k1.type, signs, otherId };
}

export interface ManifestResult {
  saved: { signed: SignedDocument; savedAt: number } | null;
  /** Saving again under the same id replaces the record. */
  replaced: SignedDocument | null;
  before: number;
  after: number;
}

export async function manifestCase(a: { db: string; id: string; signed: SignedDocument }): Promise<ManifestResult> {
  const s = await openStorage(a.db);
  try {
    const before = Date.now();
    await s.saveManifest(a.id, a.signed);
    const after = Date.now();
    const saved = (await s.db.get('manifests', a.id)) ?? null;
    await s.saveManifest(a.id, { ...a.signed, body: '{}' });
    const replaced = (await s.db.get('manifests', a.id))?.signed ?? null;
    return { saved, replaced, before, after };
  } finally {
    s.close();
    await deleteDB(a.db);
  }
}

export interface ProgressResult {
  missing: boolean;
  value: unknown;
  overwritten: unknown;
  afterReopen: unknown;
  others: unknown[];
}

export async function progressCase(a: { db: string }): Promise<ProgressResult> {
  const s = await openStorage(a.db);
  const missing = (await s.getProgress('round')) === undefined;
  await s.setProgress('round', { round: 3, losses: [2.5, 2.25], done: false });
  const value = await s.getProgress('round');
  await s.setProgress('round', { round: 4 });
  const overwritten = await s.getProgress<{ round: number }>('round');
  await s.setProgress('count', 7);
  await s.setProgress('name', 'tab');
  s.close();
  const again = await openStorage(a.db);
  const afterReopen = await again.getProgress('round');
  const others = [await again.getProgress('count'), await again.getProgress('name')];
  again.close();
  await deleteDB(a.db);
  return { missing, value, overwritten, afterReopen, others };
}
