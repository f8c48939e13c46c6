// Who trains a round: admission to the roster, fair under a flood of throwaway identities.
// - Volunteers with verified rounds come first (most verified first): a stranger cannot push them out.
// - At least NEWCOMER_SHARE of the slots are kept for newcomers (no verified round yet), so the
//   proven cannot starve them either; newcomers from one IP address come before others only for
//   NEWCOMER_SLOTS_PER_ADDRESS of them, so identities cost an address each, not a key each (the rest
//   take slots nobody else wants).
// - An assigned volunteer that did not deliver (or whose update failed its check) goes to the back
//   for the next 2^(misses in a row − 1) rounds, at most MAX_BENCH_ROUNDS: it gets only slots nobody
//   else wants, so sybils that join and never send lose their slots to anyone who does, within a
//   round, while a small swarm still uses a slow volunteer.
// - One caught sending work that is not its own (verify.ts's UpdateVerdict.caught) is not assigned
//   at all for SUSPENSION_ROUNDS: the seed spends nothing more on it, not even a filter pass.
// Ties break by a random order drawn from the round (the seed's choice, not the joiners').
import { createRandom } from '../util/random';

/** What the seed remembers of one volunteer, in its checkpoint. */
export interface VolunteerRecord {
  /** Rounds whose update passed its checks and was credited. */
  verified: number;
  /** Verified rounds in a row: the rarer its work is re-executed (verify.ts's checkProbability). */
  streak: number;
  /** Assigned rounds missed (or failed) in a row; 0 after a verified one. */
  misses: number;
  /** At the back of the queue before this round (after misses). */
  benchedUntil: number;
  /** The last round it was assigned in. */
  lastAssigned: number;
  /** Not assigned before this round: it was caught sending work not its own (0: never caught). */
  suspendedUntil: number;
}

/** Fraction of a round's slots kept for newcomers (when there are newcomers to take them). */
export const NEWCOMER_SHARE = 1 / 8;
/** Newcomer slots one IP address can take in a round: an office of tabs, not a botnet. */
export const NEWCOMER_SLOTS_PER_ADDRESS = 4;
/** Longest a volunteer that keeps missing sits out. */
export const MAX_BENCH_ROUNDS = 16;
/**
 * Rounds a volunteer caught cheating is not assigned. Long enough that catching it (a re-execution,
 * a whole round of the seed's CPU) is paid once in many rounds; then it starts over, its first
 * update re-executed again (streak 0). A fresh identity is no cheaper for it: also re-executed first.
 */
export const SUSPENSION_ROUNDS = 64;
/**
 * Volunteers remembered with no verified round: past it, the ones assigned longest ago are forgotten
 * (a stranger's identities must not grow the checkpoint without bound; a forgotten one starts over).
 */
export const MAX_UNPROVEN_RECORDS = 4_096;

export interface RosterInput {
  /** Joined and connected volunteers, in join order. */
  candidates: string[];
  records: Readonly<Record<string, VolunteerRecord>>;
  /** The IP address a volunteer connects from, if known. */
  addressOf(peer: string): string | undefined;
  slots: number;
  round: number;
}

/** The round's roster, at most `slots` volunteers, in the order they were chosen. */
export function chooseRoster({ candidates, records, addressOf, slots, round }: RosterInput): string[] {
  const random = createRandom(round + 1);
  const tieBreak = new Map(candidates.map((p) => [p, random()]));
  const benched = (p: string) => (records[p]?.benchedUntil ?? 0) > round;
  const suspended = (p: string) => (records[p]?.suspendedUntil ?? 0) > round;
  const eligible = candidates.filter((p) => !benched(p) && !suspended(p));
  const verified = (p: string) => records[p]?.verified ?? 0;
  const byTie = (a: string, b: string) => tieBreak.get(a)! - tieBreak.get(b)!;
  const proven = eligible.filter((p) => verified(p) > 0).sort((a, b) => verified(b) - verified(a) || byTie(a, b));
  const newcomers = eligible.filter((p) => verified(p) === 0).sort(byTie);

  const perAddress = new Map<string, number>();
  const withinShare: string[] = [];
  const pastShare: string[] = [];
  for (const p of newcomers) {
    const address = addressOf(p) ?? `unknown:${p}`;
    const taken = perAddress.get(address) ?? 0;
    perAddress.set(address, taken + 1);
    (taken < NEWCOMER_SLOTS_PER_ADDRESS ? withinShare : pastShare).push(p);
  }
  const reserved = Math.min(withinShare.length, Math.ceil(slots * NEWCOMER_SHARE));
  const fromProven = proven.slice(0, slots - reserved);
  // Slots nobody ahead took: newcomers past their address's share, then the benched, fewest misses first.
  const misses = (p: string) => records[p]?.misses ?? 0;
  const back = candidates
    .filter((p) => benched(p) && !suspended(p))
    .sort((a, b) => misses(a) - misses(b) || byTie(a, b));
  return [...fromProven, ...withinShare, ...proven.slice(fromProven.length), ...pastShare, ...back].slice(0, slots);
}

/** How a round went for its assigned volunteers (the others are in none of these). */
export interface RoundOutcome {
  /** Verified and credited. */
  delivered: ReadonlySet<string>;
  /** Not checked for want of the seed's time: they stand as they stood. */
  excused?: ReadonlySet<string>;
  /** Caught sending work not their own: suspended (SUSPENSION_ROUNDS) as well as benched. */
  caught?: ReadonlySet<string>;
}

/**
 * The records after a round: delivered volunteers gain a verified round; the excused stand as they
 * stood; the other assigned ones missed (or failed their check): their streak ends, they are benched,
 * and the caught among them suspended. Unproven records past MAX_UNPROVEN_RECORDS are forgotten, the
 * ones assigned longest ago first.
 */
export function recordRound(
  records: Readonly<Record<string, VolunteerRecord>>,
  round: number,
  assigned: string[],
  { delivered, excused = new Set(), caught = new Set() }: RoundOutcome,
): Record<string, VolunteerRecord> {
  const next = { ...records };
  for (const peer of assigned) {
    const r = next[peer] ?? {
      verified: 0,
      streak: 0,
      misses: 0,
      benchedUntil: 0,
      lastAssigned: round,
      suspendedUntil: 0,
    };
    if (delivered.has(peer))
      next[peer] = { ...r, verified: r.verified + 1, streak: r.streak + 1, misses: 0, lastAssigned: round };
    else if (excused.has(peer)) next[peer] = { ...r, lastAssigned: round };
    else {
      const misses = r.misses + 1;
      const bench = Math.min(2 ** (misses - 1), MAX_BENCH_ROUNDS);
      const suspendedUntil = caught.has(peer) ? round + 1 + SUSPENSION_ROUNDS : r.suspendedUntil;
      next[peer] = { ...r, streak: 0, misses, benchedUntil: round + 1 + bench, lastAssigned: round, suspendedUntil };
    }
  }
  const unproven = Object.entries(next).filter(([, r]) => r.verified === 0);
  if (unproven.length > MAX_UNPROVEN_RECORDS) {
    unproven.sort(([, a], [, b]) => a.lastAssigned - b.lastAssigned);
    for (const [peer] of unproven.slice(0, unproven.length - MAX_UNPROVEN_RECORDS)) delete next[peer];
  }
  return next;
}
