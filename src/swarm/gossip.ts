// Gossipsub as the swarm uses it: which messages a node passes on, and how it scores who sent them.
// Gossip carries two things: tabs' announcements (what they hold, where to dial them) and the
// documents the seed publishes (the round manifest). Both are checked before they are forwarded:
// - an announcement must parse, come within its sender's budget (ANNOUNCE_BUDGET) and, at the seed,
//   name weights the seed serves;
// - on a seed-only topic, only the seed's own messages count.
// Only misbehaviour moves a peer's score: each invalid or excessive message it sends costs
// INVALID_MESSAGE_WEIGHT × (its count of them)², and the count decays by INVALID_MESSAGE_DECAY a
// second. Below the graylist threshold (-80, gossipsub's default) every RPC from the peer is dropped
// unread: three bad messages in a few seconds, or a flood, silence a peer for as long as the flood
// takes to decay (100 bad messages: about 6 minutes). Nothing earns credit: a stranger could farm it.

import { type GossipSub, gossipsub, TopicValidatorResult } from '@libp2p/gossipsub';
import { requestBudget } from '../util/budget';
import { type Clock, systemClock } from '../util/clock';
import { ANNOUNCE_TOPIC, decodeAnnouncement } from './announce';
import { ANNOUNCE_BUDGET, GOSSIP_SCORE_RETAIN_MS, MAX_GOSSIP_RPC_BYTES } from './limits';

/**
 * The seed's broadcast topic: its signed round manifests (src/fed). Only the seed publishes there;
 * every node rejects anyone else's message on it.
 */
export const ROUND_TOPIC = 'vgpu/round/1';
/** Every topic of the swarm: a node handles no other. */
const SWARM_TOPICS = [ANNOUNCE_TOPIC, ROUND_TOPIC];

/** Score cost of one invalid or excessive message, times the sender's count of them (squared). */
const INVALID_MESSAGE_WEIGHT = -10;
/** Factor the count of a peer's bad messages keeps each second. */
const INVALID_MESSAGE_DECAY = 0.99;

/** Scoring for one topic: only invalid messages count (gossipsub's other terms are off). */
const TOPIC_SCORE = {
  topicWeight: 1,
  timeInMeshWeight: 0,
  timeInMeshQuantum: 1_000,
  timeInMeshCap: 1,
  firstMessageDeliveriesWeight: 0,
  firstMessageDeliveriesDecay: 0.5,
  firstMessageDeliveriesCap: 1,
  // Tabs announce only when what they hold changes: a quiet mesh peer is not a failing one.
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0.5,
  meshMessageDeliveriesCap: 1,
  meshMessageDeliveriesThreshold: 1,
  meshMessageDeliveriesWindow: 10,
  meshMessageDeliveriesActivation: 5_000,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0.5,
  invalidMessageDeliveriesWeight: INVALID_MESSAGE_WEIGHT,
  invalidMessageDeliveriesDecay: INVALID_MESSAGE_DECAY,
};

/**
 * The gossipsub service of every node. It handles the swarm's topics only (a message or a
 * subscription on any other is dropped unread, so its caches stay bounded), and scores both. No IP colocation penalty: many tabs behind one NAT (a lab, an office) are normal, and gossipsub's
 * default (more than 10 peers on one address) would silence them; the seed caps connections per
 * address instead (MAX_CONNECTIONS_PER_IP).
 */
export function gossipService() {
  return gossipsub({
    allowPublishToZeroTopicPeers: true,
    maxInboundDataLength: MAX_GOSSIP_RPC_BYTES,
    allowedTopics: SWARM_TOPICS,
    scoreParams: {
      IPColocationFactorWeight: 0,
      retainScore: GOSSIP_SCORE_RETAIN_MS,
      topics: Object.fromEntries(SWARM_TOPICS.map((t) => [t, TOPIC_SCORE])),
    },
  });
}

export interface AnnouncementRules {
  /** Whether announcements of this manifest are worth passing on (the seed: weights it serves). */
  wanted?(manifest: string): boolean;
  clock?: Clock;
}

/**
 * Checks every announcement before gossipsub passes it on. One that does not parse, or that its own
 * sender sent past its budget, is rejected (and scores the sender down); past the budget but
 * forwarded by someone else, or about weights nobody wants, it is only dropped: the forwarder may be
 * honest (the seed forwards everyone's, and timing differs from hop to hop).
 */
export function checkAnnouncements(pubsub: GossipSub, rules: AnnouncementRules = {}): void {
  const withinBudget = requestBudget(ANNOUNCE_BUDGET.count, ANNOUNCE_BUDGET.perMs, rules.clock ?? systemClock);
  pubsub.topicValidators.set(ANNOUNCE_TOPIC, (source, msg) => {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject;
    const sender = msg.from.toString();
    const direct = source.equals(msg.from);
    let manifest: string;
    try {
      manifest = decodeAnnouncement(msg.data).manifest;
    } catch {
      return TopicValidatorResult.Reject;
    }
    if (!withinBudget(sender)) return direct ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore;
    if (rules.wanted && !rules.wanted(manifest)) return TopicValidatorResult.Ignore;
    return TopicValidatorResult.Accept;
  });
  pubsub.subscribe(ANNOUNCE_TOPIC);
}

/**
 * At the seed: on ROUND_TOPIC only the seed publishes (its own messages are not validated), so any
 * message that arrives there is a forgery. Tabs check the sender where they subscribe (seed-link.ts).
 */
export function refuseRoundForgeries(pubsub: GossipSub): void {
  pubsub.topicValidators.set(ROUND_TOPIC, () => TopicValidatorResult.Reject);
}
