// The tab's IndexedDB (through idb): weight pieces by hash, signed manifests, the peer key, and
// progress records. A reload reuses all of it: identity, cached pieces, where the tab stopped.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
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

export interface Storage {
  db: IDBPDatabase<VgpuDb>;
  pieces: PieceStore;
  loadOrCreatePeerKey(): Promise<PrivateKey>;
  saveManifest(id: string, signed: SignedDocument): Promise<void>;
  getProgress<T>(name: string): Promise<T | undefined>;
  setProgress(name: string, value: unknown): Promise<void>;
  close(): void;
}

export async function openStorage(name = 'vgpu'): Promise<Storage> {
  const db = await openDB<VgpuDb>(name, DB_VERSION, {
    upgrade(db) {
      db.createObjectStore('pieces');
      db.createObjectStore('manifests');
      db.createObjectStore('keys');
      db.createObjectStore('progress');
    },
  });
  return {
    db,
    pieces: {
      get: (hash) => db.get('pieces', hash),
      // A view is stored with its whole backing buffer: store only its bytes.
      put: async (hash, bytes) => void (await db.put('pieces', bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice(), hash)),
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
