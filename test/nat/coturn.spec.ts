// TURN through a real coturn with the seed's credentials: a seed started with --turn and
// --turn-secret-file publishes ICE servers in /swarm.json (a fresh credential at each read, never the
// secret); a headless Chromium page gathering candidates with them gets a relay candidate from
// coturn, and with a credential signed by another secret gets none (coturn answers 401). So does a
// headless Node volunteer's WebRTC (node-datachannel), with the credentials as its transport takes them.
import '../../src/seed'; // first: defines Promise.withResolvers for libp2p on Node 20
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, type Page, test } from '@playwright/test';
import { RTCPeerConnection as NodeRTCPeerConnection } from 'node-datachannel/polyfill';
import { DEFAULT_FED_SETTINGS } from '../../src/fed';
import { type Seed, startSeed } from '../../src/seed';
import type { IceServer } from '../../src/seed/ice';
import { transportIceServers } from '../../src/swarm/nodes';
import { type Coturn, coturnAvailable, NO_COTURN_MESSAGE, startCoturn } from '../harness/coturn';

const SECRET = 'shared-by-seed-and-coturn';

let dir: string;
let coturn: Coturn;
let seed: Seed;

test.beforeAll(async () => {
  if (!coturnAvailable()) throw new Error(NO_COTURN_MESSAGE);
  dir = await mkdtemp(join(tmpdir(), 'vgpu-coturn-test-'));
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>volunteer</title>');
  coturn = await startCoturn({ ip: '127.0.0.1', port: 34780, secret: SECRET, relayPorts: [49160, 49199] });
  seed = await startSeed({
    runDir: join(dir, 'run'),
    model: 'tiny',
    appDir: dir,
    // A short validation context: the seed's first evaluation is not what this test looks at.
    fed: { hyper: { ...DEFAULT_FED_SETTINGS.hyper, context: 16 } },
    ice: { stun: [coturn.stunUrl], turn: [coturn.turnUrl], turnSecret: SECRET },
  });
});

test.afterAll(async () => {
  await seed?.stop();
  await coturn?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function swarmIceServers(): Promise<IceServer[]> {
  return ((await (await fetch(new URL('/swarm.json', seed.url))).json()) as { iceServers: IceServer[] }).iceServers;
}

/** The types and addresses of the candidates a page gathers with `iceServers`, relay only, and TURN's errors. */
function gatherRelay(page: Page, iceServers: IceServer[]): Promise<{ candidates: string[]; errors: number[] }> {
  return page.evaluate(async (iceServers) => {
    const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: 'relay' });
    const candidates: string[] = [];
    const errors: number[] = [];
    pc.onicecandidateerror = (e) => errors.push((e as RTCPeerConnectionIceErrorEvent).errorCode);
    const gathered = new Promise<void>((resolve) => {
      pc.onicecandidate = (e) =>
        e.candidate ? candidates.push(`${e.candidate.type} ${e.candidate.address}`) : resolve();
    });
    pc.createDataChannel('probe');
    await pc.setLocalDescription(await pc.createOffer());
    await gathered;
    pc.close();
    return { candidates, errors };
  }, iceServers);
}

test("a tab gets a relay candidate from coturn with the seed's credential, none with a forged one", async ({
  page,
}) => {
  const servers = await swarmIceServers();
  expect(servers.map((s) => s.urls)).toEqual([[coturn.stunUrl], [coturn.turnUrl]]);
  const turn = servers[1]!;
  expect(JSON.stringify(servers)).not.toContain(SECRET);
  // Each read of /swarm.json (each tab) gets a credential of its own.
  expect((await swarmIceServers())[1]!.username).not.toBe(turn.username);

  expect(await gatherRelay(page, servers)).toEqual({ candidates: ['relay 127.0.0.1'], errors: [] });

  const forged = { ...turn, credential: createHmac('sha1', 'guessed').update(turn.username!).digest('base64') };
  expect(await gatherRelay(page, [forged])).toEqual({ candidates: [], errors: [401] });
});

test("a headless Node volunteer's WebRTC gets a relay candidate from coturn with the seed's credential", async () => {
  const servers = transportIceServers(await swarmIceServers());
  // The TURN REST username has a ':' that node-datachannel would split the URL at: it goes encoded.
  expect(servers[1]!.username).toMatch(/^\d+%3A[0-9a-f]+$/);
  const pc = new NodeRTCPeerConnection({ iceServers: servers, iceTransportPolicy: 'relay' });
  try {
    const candidates: string[] = [];
    // node-datachannel reports candidates and the end of gathering on separate callbacks: the relay
    // candidate may come after "complete", in an event or in the local description.
    pc.onicecandidate = (e) => void (e.candidate && candidates.push(e.candidate.candidate));
    pc.createDataChannel('probe');
    await pc.setLocalDescription(await pc.createOffer());
    const relayed = () =>
      [...candidates, ...(pc.localDescription?.sdp.match(/candidate:\S+ .*/g) ?? [])]
        .map((c) =>
          c
            .match(/ (\S+) \d+ typ (\w+)/)
            ?.slice(1)
            .join(' '),
        )
        .filter((c) => c?.endsWith(' relay'));
    await expect.poll(() => [...new Set(relayed())], { timeout: 15_000 }).toEqual(['127.0.0.1 relay']);
  } finally {
    pc.close();
  }
});
