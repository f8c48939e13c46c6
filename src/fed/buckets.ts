// The seed's streaming buckets: each update that arrives is folded into one of a fixed number of
// bucket sums as it comes, so a round holds O(buckets × parameters) floats however many volunteers
// send, and the robust rule runs across the buckets' means at the close (aggregate.ts's
// aggregateBuckets), which is the bucketing defence of Karimireddy, He and Jaggi (ICLR 2022).
//
// Arrivals are dealt out in passes: each pass of `count` arrivals fills every bucket once, in an
// order the seed draws secretly per pass, so buckets differ in size by at most one (until rejected
// updates are taken out again) and nobody can time its sends to share a bucket with its friends.
// Up to `count` updates, every bucket holds one: the rule then runs over the updates themselves.
// A helper seed's partial aggregate (the mean of its volunteers' updates) is a bucket of its own,
// weighing as many updates as it holds.
import type { Bucket } from './aggregate';

/**
 * Buckets per round: a round of up to 64 updates (the default roster's size) aggregates exactly as
 * the rule does over single updates. Memory: 64 float64 sums of the model, 90 MB for the tiny preset,
 * 480 MB for `small` (the README's projection table).
 */
export const STREAMING_BUCKETS = 64;

export interface RoundBuckets {
  /** Folds `peer`'s update into a bucket. */
  add(peer: string, update: Float32Array): void;
  /** Takes `peer`'s update back out of its bucket (a rejected one); nothing if it is not in one. */
  remove(peer: string, update: Float32Array): void;
  /** Adds a bucket of its own, `id` (a helper's), holding `members`' updates, whose mean is `mean`. */
  addGroup(id: string, members: readonly string[], mean: Float32Array): void;
  /** Takes a group back out (a partial that failed its check); nothing if there is no such group. */
  removeGroup(id: string): void;
  /** The non-empty buckets' means; members index `peers`, the updates still in. */
  snapshot(): { peers: string[]; buckets: Bucket[] };
  /** Updates in the buckets, groups' included. */
  readonly size: number;
}

export function createRoundBuckets(length: number, count: number, random: () => number): RoundBuckets {
  if (!(Number.isInteger(count) && count >= 1))
    throw new RangeError(`bucket count must be a positive integer, got ${count}`);
  const sums: (Float64Array | undefined)[] = new Array(count).fill(undefined);
  const members: Set<string>[] = Array.from({ length: count }, () => new Set());
  const bucketOf = new Map<string, number>();
  let order: number[] = [];
  let arrivals = 0;
  const groups = new Map<string, { members: readonly string[]; mean: Float32Array }>();

  function nextBucket(): number {
    const k = arrivals++ % count;
    if (k === 0) {
      order = Array.from({ length: count }, (_, j) => j);
      for (let a = count - 1; a > 0; a--) {
        const b = Math.floor(random() * (a + 1));
        [order[a], order[b]] = [order[b]!, order[a]!];
      }
    }
    return order[k]!;
  }

  const check = (update: Float32Array) => {
    if (update.length !== length) throw new RangeError(`update has ${update.length} floats, the buckets ${length}`);
  };

  return {
    add(peer, update) {
      check(update);
      if (bucketOf.has(peer)) throw new RangeError(`${peer} already has an update in the buckets`);
      const j = nextBucket();
      const sum = sums[j] ?? new Float64Array(length);
      sums[j] = sum;
      for (let i = 0; i < length; i++) sum[i]! += update[i]!;
      members[j]!.add(peer);
      bucketOf.set(peer, j);
    },
    remove(peer, update) {
      check(update);
      const j = bucketOf.get(peer);
      if (j === undefined) return;
      bucketOf.delete(peer);
      members[j]!.delete(peer);
      const sum = sums[j]!;
      // An emptied bucket starts again from exact zeros, not from the rounding left by the subtraction.
      if (members[j]!.size === 0) sum.fill(0);
      else for (let i = 0; i < length; i++) sum[i]! -= update[i]!;
    },
    addGroup(id, groupMembers, mean) {
      check(mean);
      if (groups.has(id)) throw new RangeError(`a group ${id} is already in the buckets`);
      if (groupMembers.length === 0) throw new RangeError('a group holds at least one update');
      groups.set(id, { members: groupMembers, mean });
    },
    removeGroup(id) {
      groups.delete(id);
    },
    snapshot() {
      const peers: string[] = [];
      const buckets: Bucket[] = [];
      for (const g of groups.values()) buckets.push({ mean: g.mean, members: g.members.map((p) => peers.push(p) - 1) });
      for (const [j, inBucket] of members.entries()) {
        if (inBucket.size === 0) continue;
        const sum = sums[j]!;
        const mean = new Float32Array(length);
        for (let i = 0; i < length; i++) mean[i] = sum[i]! / inBucket.size;
        buckets.push({ mean, members: [...inBucket].map((peer) => peers.push(peer) - 1) });
      }
      return { peers, buckets };
    },
    get size() {
      return bucketOf.size + [...groups.values()].reduce((n, g) => n + g.members.length, 0);
    },
  };
}
