// The misbehaving tab of the end-to-end test: the volunteer's own swarm code with a piece store
// that claims to hold every piece of the seed's manifests and returns garbage of the right length.
import { type PieceStore, parseSeedInfo, pieceRange, verifyManifest } from '../src/swarm';
import { seedUrlFromLocation, startVolunteer } from '../src/tab';

const seedUrl = seedUrlFromLocation(location);
const seed = parseSeedInfo(await (await fetch(new URL('/swarm.json', seedUrl))).json());
/** piece hash -> its length, from the seed's manifests. */
const lengths = new Map<string, number>();
for (const doc of seed.manifests) {
  const m = (await verifyManifest(doc, seed.peerId)).value;
  m.pieces.forEach((hash, i) => {
    const [start, end] = pieceRange(m, i);
    lengths.set(hash, end - start);
  });
}

const lying = (store: PieceStore): PieceStore => ({
  has: async (hash) => lengths.has(hash) || store.has(hash),
  get: async (hash) => {
    const n = lengths.get(hash);
    return n === undefined ? store.get(hash) : new Uint8Array(n).fill(0xa5);
  },
  put: (hash, bytes) => store.put(hash, bytes),
});

const volunteer = await startVolunteer({ seedUrl, wrapStore: lying, onChange: () => {} });
window.vgpuState = () => structuredClone(volunteer.state);
