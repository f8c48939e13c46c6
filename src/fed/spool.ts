// Where the seed keeps a round's update bodies between their arrival and the round's verification:
// the checks load them one at a time, so the heap holds the buckets (buckets.ts), not every update.
// The seed's spool is a folder (src/seed/spool.ts); tests and benchmarks may keep it in memory.

export interface UpdateSpool {
  /** Keeps `peer`'s encoded update of one issue of a round (`batch`: the coordinator numbers them). */
  put(batch: number, peer: string, body: Uint8Array): Promise<void>;
  /** The body kept; rejects when it is not there. */
  get(batch: number, peer: string): Promise<Uint8Array>;
  /** Forgets a batch. */
  drop(batch: number): Promise<void>;
}

/** A spool on the heap: for tests, and for callers whose rounds are small. */
export function memorySpool(): UpdateSpool {
  const batches = new Map<number, Map<string, Uint8Array>>();
  return {
    async put(batch, peer, body) {
      const bodies = batches.get(batch) ?? new Map<string, Uint8Array>();
      batches.set(batch, bodies.set(peer, body));
    },
    async get(batch, peer) {
      const body = batches.get(batch)?.get(peer);
      if (!body) throw new Error(`no update of ${peer} in spool batch ${batch}`);
      return body;
    },
    async drop(batch) {
      batches.delete(batch);
    },
  };
}
