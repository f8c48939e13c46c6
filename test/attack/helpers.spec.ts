// Helper seeds (src/helper, src/seed/helpers.ts) against a real root: a helper its operator allowed
// serves a Node volunteer of its own (weights, data, its update), sends the root one partial, and the
// root checks the update behind it and credits the volunteer, with receipts the root signed, as it
// credits a volunteer of its own; a peer the root did not allow cannot act as a helper; a helper that
// disappears mid-round costs the root only its own volunteers.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { expect, test } from '@playwright/test';
import {
  DEFAULT_FED_SETTINGS,
  encodeUpdate,
  HELPER_PROTOCOL,
  helperHello,
  helperJoin,
  sendPartial,
  sendUpdate,
  UPDATE_PROTOCOL,
  UpdateRefusedError,
  verifyRoundManifest,
} from '../../src/fed';
import { startHelper } from '../../src/helper';
import { loadOrCreatePeerKey } from '../../src/seed/files';
import { parseSeedInfo, sha256Hex } from '../../src/swarm';
import { randomUniform } from '../../src/util/random';
import { createAttacker, openStream, startTestSeed } from '../harness/attacker';
import { scrapeMetrics } from '../harness/metrics';
import { startVolunteer } from '../harness/node-volunteer';

const HYPER = { ...DEFAULT_FED_SETTINGS.hyper, steps: 2, batchSize: 1, context: 16 };

/**
 * A root that allows one helper, with a Node volunteer of its own connected, and then that helper, on
 * loopback (the volunteer connects first: once the root lists a helper, a volunteer given the root's
 * page is drawn to either); `stop` stops them all and removes their folders.
 */
async function rootWithHelper() {
  const helperDir = await mkdtemp(join(tmpdir(), 'vgpu-helper-'));
  const helperId = peerIdFromPrivateKey(await loadOrCreatePeerKey(helperDir, false)).toString();
  const logs: string[] = [];
  const root = await startTestSeed({
    model: 'tiny',
    fed: { hyper: HYPER },
    helpers: [helperId],
    log: (l) => logs.push(l),
  });
  const direct = startVolunteer(root.seed.url);
  await expect.poll(() => direct.seen.peerId, { timeout: 30_000 }).toBeDefined();
  const helper = await startHelper({
    runDir: helperDir,
    upstream: root.seed.url,
    appDir: helperDir,
    log: (l) => logs.push(`helper: ${l}`),
  });
  return {
    root,
    helper,
    direct,
    logs,
    stop: async () => {
      await direct.stop();
      await helper.stop().catch(() => {});
      await root.stop();
      await rm(helperDir, { recursive: true, force: true });
    },
  };
}

test('a volunteer behind a helper is credited by the root, beside one of the root’s own', async () => {
  test.setTimeout(180_000);
  const { root, helper, direct, logs, stop } = await rootWithHelper();
  const seed = root.seed;
  // The root lists the helper for volunteers; the helper names the root as the run's signer.
  await expect.poll(() => seed.info().helpers?.map((h) => h.peerId)).toEqual([helper.peerId]);
  const helperInfo = parseSeedInfo(await (await fetch(new URL('/swarm.json', helper.url))).json());
  expect(helperInfo).toMatchObject({ peerId: helper.peerId, run: seed.peerId });
  expect(helper.status().welcomed).toBe(true);
  // A stranger that never joined through the helper sends it an update: refused from its header.
  const stranger = await createAttacker();
  const m = (await verifyRoundManifest(seed.coordinator.currentRound(), seed.peerId)).value;
  const update = sendUpdate(
    await openStream(stranger, { info: () => helperInfo }, UPDATE_PROTOCOL),
    { type: 'update', round: m.round, weights: m.weightsId, tokens: 1, steps: 1, lossFirst: 1, lossLast: 1 },
    new Uint8Array(64),
  );
  await expect(update).rejects.toThrow(/not assigned in this round/);
  await stranger.stop();
  const behind = startVolunteer(helper.url);
  try {
    const [a, b] = await Promise.all([behind.firstReceipt, direct.firstReceipt]);
    expect(a, logs.join('\n')).toMatchObject({ peer: behind.seen.peerId, round: 0, tokens: 2 * 16 });
    expect(b, logs.join('\n')).toMatchObject({ peer: direct.seen.peerId, round: 0, tokens: 2 * 16 });
    // The volunteer behind the helper got its weights from the helper, and its receipt is the root's.
    expect(behind.seen.fetched?.held).toBe(seed.manifest.value.pieces.length);
    expect(helper.status().partialsSent).toBe(1);
    expect(logs.some((l) => /a partial of 1 update\(s\) from helper/.test(l))).toBe(true);
    expect(
      logs.some((l) =>
        /round 0 closed: 2 of 2 update\(s\) verified and aggregated \(1 behind 1 of 1 helper partials\)/.test(l),
      ),
    ).toBe(true);
    expect(seed.status()).toMatchObject({ acceptedUpdates: 2, rejectedUpdates: 0 });
    // The helper's /metrics: the update it took, the partial it sent, the stranger it refused.
    const { samples } = await scrapeMetrics(helper.url, logs);
    expect(samples.get('vgpu_updates_taken_total')).toBe(1);
    expect(samples.get('vgpu_partials_sent_total')).toBe(1);
    expect(samples.get('vgpu_partials_rejected_total')).toBe(0);
    expect(samples.get('vgpu_updates_rejected_total{kind="refused"}')).toBe(1);
    expect(samples.get('vgpu_helper_welcomed')).toBe(1);
    expect(samples.get('vgpu_received_bytes_total{transport="libp2p"}')).toBeGreaterThan(0);
    expect(samples.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    // Round 1: the volunteer behind the helper rebuilds its weights from the round's delta, which
    // the helper copied from the root, and is credited again.
    await expect.poll(() => behind.seen.receipts.map((r) => r.round), { timeout: 60_000 }).toContain(1);
    expect(behind.seen.deltas.map((d) => d.round)).toContain(1);
    expect(behind.seen.fetchCount).toBe(1);
  } finally {
    await behind.stop();
    await direct.stop();
    await stop();
  }
});

test('a peer the root did not allow cannot say hello, join volunteers or send a partial', async () => {
  const { seed, stop } = await startTestSeed({ model: 'tiny', fed: { hyper: HYPER } });
  const attacker = await createAttacker();
  try {
    const refusal = /not a helper of this run/;
    await expect(
      helperHello(await openStream(attacker, seed, HELPER_PROTOCOL), 'http://evil.example/'),
    ).rejects.toThrow(refusal);
    await expect(
      helperJoin(await openStream(attacker, seed, HELPER_PROTOCOL), attacker.peerId.toString(), '10.0.0.1'),
    ).rejects.toThrow(refusal);
    const m = (await verifyRoundManifest(seed.coordinator.currentRound(), seed.peerId)).value;
    const body = new Uint8Array(16);
    const partial = sendPartial(
      await openStream(attacker, seed, HELPER_PROTOCOL),
      // Refused before its signature is read: the key it signs with does not matter.
      await generateKeyPair('Ed25519'),
      attacker.peerId,
      {
        round: m.round,
        weights: m.weightsId,
        contributors: [{ peer: attacker.peerId.toString(), update: 'a'.repeat(64), bytes: 16 }],
        body: 'b'.repeat(64),
      },
      body,
    );
    await expect(partial).rejects.toThrow(UpdateRefusedError);
    expect(seed.info().helpers).toEqual([]);
    expect(seed.status()).toMatchObject({ acceptedUpdates: 0, rejectedUpdates: 0 });
  } finally {
    await attacker.stop();
    await stop();
  }
});

test('an allowed helper whose partial lists updates it cannot show is not used: its volunteers are not credited, the model does not move', async () => {
  const key = await generateKeyPair('Ed25519');
  const helper = await createAttacker(key);
  const logs: string[] = [];
  const { seed, stop } = await startTestSeed({
    model: 'tiny',
    fed: { hyper: HYPER },
    helpers: [helper.peerId.toString()],
    log: (l) => logs.push(l),
  });
  try {
    const ask = () => openStream(helper, seed, HELPER_PROTOCOL);
    await helperHello(await ask(), 'http://127.0.0.1:1/');
    // Two made-up volunteers "behind" it: the root assigns them when it issues the round again.
    const fakes = await Promise.all(
      [1, 2].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()),
    );
    for (const [k, peer] of fakes.entries()) await helperJoin(await ask(), peer, `10.9.0.${k + 1}`);
    const round = async () => (await verifyRoundManifest(seed.coordinator.currentRound(), seed.peerId)).value;
    await expect
      .poll(async () => Object.keys((await round()).assignments).sort(), { timeout: 30_000 })
      .toEqual(fakes.sort());
    const m = await round();
    const before = seed.weights.slice();
    // A mean of nothing anyone sent, small enough to pass the norm bound; updates listed by made-up hashes.
    const body = encodeUpdate(randomUniform(before.length, 7, 1e-4), { format: 'fp32', blockSize: 256, density: 1 });
    const contributors = fakes.map((peer) => ({ peer, update: 'c'.repeat(64), bytes: 1000 }));
    const outcome = await sendPartial(
      await ask(),
      key,
      helper.peerId,
      { round: m.round, weights: m.weightsId, contributors, body: await sha256Hex(body) },
      body,
    );
    expect(outcome.type).toBe('received');
    // The round closes (every assigned volunteer is accounted for); the samples cannot be fetched.
    await expect.poll(() => logs.some((l) => /round 0: no usable update/.test(l)), { timeout: 60_000 }).toBe(true);
    expect(logs.join('\n')).toMatch(/partial was not used: could not be checked/);
    expect(seed.status()).toMatchObject({ acceptedUpdates: 0, round: 0 });
    expect(Buffer.compare(Buffer.from(seed.weights.buffer), Buffer.from(before.buffer))).toBe(0);
  } finally {
    await helper.stop();
    await stop();
  }
});

test('a helper that disappears mid-round costs the root only its own volunteers, who move to the root', async () => {
  test.setTimeout(180_000);
  const { root, helper, direct, logs, stop } = await rootWithHelper();
  const seed = root.seed;
  const behind = startVolunteer(helper.url);
  try {
    // Both assigned in the reissued first round: the helper goes before its volunteer sends.
    const assigned = async () => {
      const round = seed.coordinator.currentRound();
      return round ? (await verifyRoundManifest(round, seed.peerId)).value : undefined;
    };
    await expect
      .poll(async () => Object.keys((await assigned())?.assignments ?? {}).length, { timeout: 60_000 })
      .toBe(2);
    const { deadline } = (await assigned())!;
    await helper.stop();
    const b = await direct.firstReceipt;
    expect(b, logs.join('\n')).toMatchObject({ peer: direct.seen.peerId, round: 0 });
    // The round closed LEFT_GRACE_MS after the helper went, long before its deadline, with the update it had.
    expect(Date.now()).toBeLessThan(deadline);
    expect(
      logs.some((l) => /round 0 closed: 1 of 1 update/.test(l)),
      logs.join('\n'),
    ).toBe(true);
    expect(seed.status()).toMatchObject({ acceptedUpdates: 1 });
    // The next round assigns the volunteer still there; the other draws again from the root's page
    // (HELPER_FAILOVER_MS later), now without the helper, joins the root (and is assigned into the
    // open round, or the next), and is credited there.
    expect(Object.keys((await assigned())!.assignments)).toContain(direct.seen.peerId);
    expect(await behind.firstReceipt).toMatchObject({ peer: behind.seen.peerId });
  } finally {
    await behind.stop();
    await stop();
  }
});
