// The tab's IndexedDB (through idb): weight pieces by hash, signed manifests, the peer key, and
// progress records. A reload reuses all of it: identity, cached pieces, where the tab stopped.

import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { type DBSchema, type IDBPDatabase, openDB } from 'idb';
import type { PieceStore, SignedDocument } from '../swarm';

interface VgpuDb extends DBSchema {
  /** Weight pieces, keyed by their sha256 (content addressed: shared across manifests). */
  pieces: { key: string; value: Uint8Array };
  /** Signed manifests, keyed by manifest id. */
  manifests: { key: string; value: { signed: SignedDocument; savedAt: number } };
  /** This tab's libp2p private key (protobuf bytes). It never leaves the browser. */
  keys: { key: string; value: Uint8Array };
  /** Small progress records (settings, counters, last round), keyed by name. */
  progress: { key: string; value: unknown };
}

export const DB_VERSION = 1;
/** Manifests whose pieces an eviction keeps: the newest few (the current round and the one before). */
export const MANIFESTS_KEPT_ON_EVICTION = 2;

export class StorageFullError extends Error {
  override name = 'StorageFullError';
}

/** Small records kept across reloads (settings, counters, receipts), by name. */
export interface ProgressStore {
  getProgress<T>(name: string): Promise<T | undefined>;
  setProgress(name: string, value: unknown): Promise<void>;
}

/** A ProgressStore in memory: for Node runs and tests. */
export function memoryProgressStore(): ProgressStore {
  const records = new Map<string, unknown>();
  return {
    getProgress: async <T>(name: string) => records.get(name) as T | undefined,
    setProgress: async (name, value) => void records.set(name, value),
  };
}

export interface Storage extends ProgressStore {
  db: IDBPDatabase<VgpuDb>;
  pieces: PieceStore;
  /** Frees the pieces of all but the newest MANIFESTS_KEPT_ON_EVICTION manifests. */
  evictOldManifests(): Promise<number>;
  loadOrCreatePeerKey(): Promise<PrivateKey>;
  saveManifest(id: string, signed: SignedDocument): Promise<void>;
  close(): void;
}

/**
 * Opens (or creates) the database. `onNotice` hears about evictions: when the browser's quota is
 * reached, pieces of all but the MANIFESTS_KEPT_ON_EVICTION newest manifests are deleted and the write retried.
 */
export async function openStorage(name = 'vgpu', onNotice: (text: string) => void = () => {}): Promise<Storage> {
  const db = await openDB<VgpuDb>(name, DB_VERSION, {
    upgrade(db) {
      db.createObjectStore('pieces');
      db.createObjectStore('manifests');
      db.createObjectStore('keys');
      db.createObjectStore('progress');
    },
  });

  /** Deletes the pieces only old manifests use, and those manifests; returns how many pieces went. */
  async function evictOldManifests(): Promise<number> {
    const keys = await db.getAllKeys('manifests');
    const records = await Promise.all(keys.map(async (k) => ({ key: k, record: (await db.get('manifests', k))! })));
    records.sort((a, b) => b.record.savedAt - a.record.savedAt);
    const piecesOf = (r: { signed: SignedDocument }) => {
      try {
        return (JSON.parse(r.signed.body) as { pieces?: string[] }).pieces ?? [];
      } catch {
        return [];
      }
    };
    const kept = new Set(records.slice(0, MANIFESTS_KEPT_ON_EVICTION).flatMap((r) => piecesOf(r.record)));
    let removed = 0;
    for (const { key, record } of records.slice(MANIFESTS_KEPT_ON_EVICTION)) {
      for (const hash of piecesOf(record)) {
        if (!kept.has(hash) && (await db.getKey('pieces', hash)) !== undefined) {
          await db.delete('pieces', hash);
          removed++;
        }
      }
      await db.delete('manifests', key);
    }
    return removed;
  }

  async function putPiece(hash: string, bytes: Uint8Array): Promise<void> {
    // A view is stored with its whole backing buffer: store only its bytes.
    const value = bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    try {
      await db.put('pieces', value, hash);
    } catch (e) {
      if ((e as DOMException).name !== 'QuotaExceededError') throw e;
      const removed = await evictOldManifests();
      if (removed === 0)
        throw new StorageFullError(
          'browser storage is full and nothing old is left to remove: free some space for this site (browser settings → site data) and reload',
        );
      onNotice(`storage was short: removed ${removed} pieces of older models`);
      await db.put('pieces', value, hash);
    }
  }

  return {
    db,
    evictOldManifests,
    pieces: {
      get: (hash) => db.get('pieces', hash),
      put: putPiece,
      has: async (hash) => (await db.getKey('pieces', hash)) !== undefined,
    },
    async loadOrCreatePeerKey() {
      const stored = await db.get('keys', 'peer');
      if (stored) return privateKeyFromProtobuf(stored);
      const key = await generateKeyPair('Ed25519');
      await db.put('keys', privateKeyToProtobuf(key), 'peer');
      return key;
    },
    saveManifest: async (id, signed) => void (await db.put('manifests', { signed, savedAt: Date.now() }, id)),
    getProgress: async <T>(key: string) => (await db.get('progress', key)) as T | undefined,
    setProgress: async (key, value) => void (await db.put('progress', value, key)),
    close: () => db.close(),
  };
}
