// Admission to a round's roster under a flood of throwaway identities: the verified come first, a
// share of the slots is kept for newcomers and counted per address, and whoever was assigned and did
// not deliver goes to the back. Pure functions, no network.
import { expect, test } from '@playwright/test';
import {
  chooseRoster,
  MAX_UNPROVEN_RECORDS,
  NEWCOMER_SHARE,
  NEWCOMER_SLOTS_PER_ADDRESS,
  recordRound,
  SUSPENSION_ROUNDS,
  type VolunteerRecord,
} from '../../src/fed/roster';

const SLOTS = 64;
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** Rounds until `honest` is assigned, with `sybils` joined and never delivering; at most `limit`. */
function roundsUntilAssigned(sybils: string[], addressOf: (p: string) => string, limit: number): number {
  let records: Record<string, VolunteerRecord> = {};
  for (let round = 0; round < limit; round++) {
    const roster = chooseRoster({ candidates: [...sybils, 'honest'], records, addressOf, slots: SLOTS, round });
    if (roster.includes('honest')) return round + 1;
    records = recordRound(records, round, roster, { delivered: new Set() });
  }
  return Number.POSITIVE_INFINITY;
}

test('an honest newcomer is assigned within 2 rounds while 64 idle identities are joined, from one address or from 64', () => {
  const sybils = ids('sybil', 64);
  // One address: its newcomers come first only for NEWCOMER_SLOTS_PER_ADDRESS slots.
  expect(roundsUntilAssigned(sybils, (p) => (p === 'honest' ? 'home' : 'botnet'), 10)).toBe(1);
  // 64 addresses (a costlier attack), over many rounds' random orders: never later than round 2.
  for (let start = 0; start < 50; start++) {
    const sybilsAt = sybils.map((s) => `${s}-${start}`);
    const rounds = roundsUntilAssigned(sybilsAt, (p) => p, 2);
    expect(rounds, `trial ${start}`).toBeLessThanOrEqual(2);
  }
});

test('volunteers with verified rounds come first, most verified first; NEWCOMER_SHARE of the slots stay for newcomers', () => {
  const proven = ids('proven', 80);
  const records: Record<string, VolunteerRecord> = Object.fromEntries(
    proven.map((p, i) => [
      p,
      { verified: i + 1, streak: i + 1, misses: 0, benchedUntil: 0, lastAssigned: 0, suspendedUntil: 0 },
    ]),
  );
  const newcomers = ids('new', 20);
  const roster = chooseRoster({
    candidates: [...newcomers, ...proven],
    records,
    addressOf: (p) => p,
    slots: SLOTS,
    round: 5,
  });
  const reserved = Math.ceil(SLOTS * NEWCOMER_SHARE);
  expect(roster).toHaveLength(SLOTS);
  expect(roster.slice(0, SLOTS - reserved)).toEqual(proven.slice(-(SLOTS - reserved)).reverse());
  expect(roster.slice(SLOTS - reserved).every((p) => p.startsWith('new-'))).toBe(true);
});

test('newcomers past their address share, and the benched, take only the slots nobody else wants', () => {
  const lab = ids('lab', 10);
  const records: Record<string, VolunteerRecord> = {
    slow: { verified: 3, streak: 0, misses: 1, benchedUntil: 9, lastAssigned: 7, suspendedUntil: 0 },
  };
  const candidates = ['slow', ...lab, 'elsewhere'];
  const addressOf = (p: string) => (p.startsWith('lab') ? 'lab' : p);
  const few = chooseRoster({ candidates, records, addressOf, slots: NEWCOMER_SLOTS_PER_ADDRESS + 1, round: 8 });
  expect(few).toHaveLength(NEWCOMER_SLOTS_PER_ADDRESS + 1);
  expect(few).toContain('elsewhere');
  expect(few.filter((p) => p.startsWith('lab'))).toHaveLength(NEWCOMER_SLOTS_PER_ADDRESS);
  // With room for all, everyone is assigned: the benched volunteer last.
  const all = chooseRoster({ candidates, records, addressOf, slots: SLOTS, round: 8 });
  expect(all).toHaveLength(candidates.length);
  expect(all.at(-1)).toBe('slow');
  // Its bench is over: it comes first again (it has verified rounds).
  expect(chooseRoster({ candidates, records, addressOf, slots: SLOTS, round: 9 })[0]).toBe('slow');
});

test('recordRound: delivered ones gain a verified round; missers are benched 2^(misses-1) rounds; the excused stand; unproven records are bounded', () => {
  const delivered = (...peers: string[]) => ({ delivered: new Set(peers) });
  let records = recordRound({}, 0, ['a', 'b'], delivered('a'));
  expect(records.a).toEqual({ verified: 1, streak: 1, misses: 0, benchedUntil: 0, lastAssigned: 0, suspendedUntil: 0 });
  expect(records.b).toEqual({ verified: 0, streak: 0, misses: 1, benchedUntil: 2, lastAssigned: 0, suspendedUntil: 0 });
  records = recordRound(records, 1, ['a'], delivered('a'));
  expect(records.a).toMatchObject({ verified: 2, streak: 2 });
  // Not checked for want of the seed's time: neither credited nor held against it.
  records = recordRound(records, 2, ['a', 'b'], { delivered: new Set(), excused: new Set(['a']) });
  expect(records.a).toEqual({ verified: 2, streak: 2, misses: 0, benchedUntil: 0, lastAssigned: 2, suspendedUntil: 0 });
  expect(records.b).toMatchObject({ misses: 2, benchedUntil: 5 });
  records = recordRound(records, 3, ['a'], delivered());
  expect(records.a).toMatchObject({ verified: 2, streak: 0, misses: 1 });
  records = recordRound(records, 5, ['b'], delivered('b'));
  expect(records.b).toMatchObject({ verified: 1, streak: 1, misses: 0 });
  const crowd = ids('x', MAX_UNPROVEN_RECORDS + 10);
  records = recordRound(records, 6, crowd.slice(0, 10), delivered());
  records = recordRound(records, 7, crowd.slice(10), delivered());
  const unproven = Object.values(records).filter((r) => r.verified === 0);
  expect(unproven).toHaveLength(MAX_UNPROVEN_RECORDS);
  expect(records['x-0']).toBeUndefined(); // assigned longest ago: forgotten first
  expect(records.a).toBeDefined();
});

test('a volunteer caught sending work not its own is not assigned at all for SUSPENSION_ROUNDS, even to spare slots', () => {
  const proven = (verified: number): VolunteerRecord => ({
    verified,
    streak: verified,
    misses: 0,
    benchedUntil: 0,
    lastAssigned: 0,
    suspendedUntil: 0,
  });
  let records: Record<string, VolunteerRecord> = { cheat: proven(20), missed: proven(3), honest: proven(1) };
  records = recordRound(records, 10, ['cheat', 'missed', 'honest'], {
    delivered: new Set(['honest']),
    caught: new Set(['cheat']),
  });
  expect(records.cheat).toMatchObject({ streak: 0, misses: 1, suspendedUntil: 11 + SUSPENSION_ROUNDS });
  expect(records.missed).toMatchObject({ streak: 0, misses: 1, suspendedUntil: 0 });
  const candidates = ['cheat', 'missed', 'honest'];
  const roster = (round: number) => chooseRoster({ candidates, records, addressOf: (p) => p, slots: SLOTS, round });
  // Slots to spare: the one that missed still gets one (it may be slow, not bad); the cheat none.
  expect(roster(11)).toEqual(['honest', 'missed']);
  expect(roster(10 + SUSPENSION_ROUNDS)).not.toContain('cheat');
  // Its suspension over, it comes back: first, for the verified rounds it had (its streak is gone:
  // its next update is re-executed for certain).
  expect(roster(11 + SUSPENSION_ROUNDS)[0]).toBe('cheat');
});
