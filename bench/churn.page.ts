// The churn benchmark's tab (bench/churn.ts drives it through page.evaluate): the tab's swarm client
// joined to the benchmark's seed, with the benchmark's peer connection budget, connecting to and
// hanging up on the short-lived peers it is told of.
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromString } from '@libp2p/peer-id';
import {
  memoryPieceStore,
  type PeerConnectionBudget,
  PeerConnectionBudgetError,
  type SeedInfo,
  type SwarmClient,
  startSwarmClient,
} from '../src/swarm';

/** Time for one connection to a peer (a WebRTC dial signalled through the seed's relay). */
const CONNECT_TIMEOUT_MS = 30_000;

let client: SwarmClient | undefined;

const tab = (): SwarmClient => {
  if (!client) throw new Error('the churn tab has not started');
  return client;
};

/** Joins the swarm through `seed`; resolves with the tab's peer id. */
export async function start(seed: SeedInfo, budget: PeerConnectionBudget): Promise<string> {
  client = await startSwarmClient({
    seed,
    privateKey: await generateKeyPair('Ed25519'),
    store: memoryPieceStore(),
    localNetwork: true,
    peerConnectionBudget: budget,
  });
  return client.peerId;
}

/** Connects to `peer` at its WebRTC addresses: 'connected', or 'refused' when the budget said no. */
export async function connect(peer: string, addrs: string[]): Promise<'connected' | 'refused'> {
  try {
    await tab().connectTo(peer, addrs, AbortSignal.timeout(CONNECT_TIMEOUT_MS));
    return 'connected';
  } catch (e) {
    if (e instanceof PeerConnectionBudgetError) return 'refused';
    throw e;
  }
}

/** Closes every connection to `peer`. */
export async function hangUp(peer: string): Promise<void> {
  await tab().node.hangUp(peerIdFromString(peer));
}

/** The tab's connections now (the seed's included), and the peer connections its budget admitted. */
export function counts(): { connections: number; admitted: number } {
  return { connections: tab().node.getConnections().length, admitted: tab().peerConnections().created };
}
