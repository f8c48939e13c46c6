// coturn, the TURN/STUN server the README tells researchers to run, started by tests: a config
// file the test writes (TURN REST credentials with a shared secret, the seed's --turn-secret-file; UDP
// and TCP on one port; no TLS, no CLI; log to stdout), ready once it answers a STUN Binding
// request, stopped with SIGTERM. Needs Debian's coturn package (scripts/install-coturn.sh).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NO_COTURN_MESSAGE =
  'The NAT tests need coturn (`turnserver`) and nftables (`nft`): on Debian, as root, ' +
  '`bash scripts/install-coturn.sh` (apt-get install -y coturn nftables).';

export function coturnAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v turnserver && command -v nft'], { stdio: 'ignore' }).status === 0;
}

/** How long coturn gets to answer its first STUN request. */
const READY_TIMEOUT_MS = 10_000;
/** Between STUN probes while it starts. */
const PROBE_INTERVAL_MS = 100;

export interface CoturnOptions {
  /** Address it listens on and relays from. */
  ip: string;
  /** UDP and TCP listening port. */
  port: number;
  /** static-auth-secret: what the seed's --turn-secret-file holds. */
  secret: string;
  /** Relay ports (both ends included); a small range keeps the test's firewall rules simple. */
  relayPorts: [number, number];
}

/** turnserver.conf for a seed's TURN REST credentials, as the README gives it (plus test-only paths). */
export function coturnConfig(o: CoturnOptions): string[] {
  return [
    `listening-ip=${o.ip}`,
    `relay-ip=${o.ip}`,
    `listening-port=${o.port}`,
    `min-port=${o.relayPorts[0]}`,
    `max-port=${o.relayPorts[1]}`,
    'use-auth-secret',
    `static-auth-secret=${o.secret}`,
    'realm=vgpu.test',
    'fingerprint',
    'no-tls',
    'no-dtls',
    'no-cli',
    'log-file=stdout',
    'simple-log',
  ];
}

export interface Coturn {
  /** The seed's --stun and --turn values. */
  stunUrl: string;
  turnUrl: string;
  /** Everything it logged so far. */
  output(): string;
  stop(): Promise<void>;
}

export async function startCoturn(o: CoturnOptions): Promise<Coturn> {
  const dir = await mkdtemp(join(tmpdir(), 'vgpu-coturn-'));
  const conf = join(dir, 'turnserver.conf');
  // Its own pid file and user database, so it touches nothing of the system's.
  const local = [`pidfile=${join(dir, 'turnserver.pid')}`, `userdb=${join(dir, 'turndb')}`];
  await writeFile(conf, `${[...coturnConfig(o), ...local].join('\n')}\n`);
  const child = spawn('turnserver', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const log = (chunk: Buffer) => {
    out += chunk.toString();
  };
  child.stdout!.on('data', log);
  child.stderr!.on('data', log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForStun(o.ip, o.port, child, () => out);
  } catch (e) {
    await stop();
    throw e;
  }
  return { stunUrl: `stun:${o.ip}:${o.port}`, turnUrl: `turn:${o.ip}:${o.port}`, output: () => out, stop };
}

/** A STUN Binding request (RFC 5389): type 0x0001, no attributes, the magic cookie, a random transaction id. */
function bindingRequest(): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt16BE(0x0001, 0);
  header.writeUInt32BE(0x2112a442, 4);
  randomBytes(12).copy(header, 8);
  return header;
}

/** Resolves once the server answers a Binding request with a Binding success (0x0101). */
async function waitForStun(ip: string, port: number, child: ChildProcess, output: () => string): Promise<void> {
  const socket = createSocket('udp4');
  const answered = new Promise<void>((resolve) =>
    socket.on('message', (msg) => msg.length >= 20 && msg.readUInt16BE(0) === 0x0101 && resolve()),
  );
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`turnserver exited (${child.exitCode}):\n${output()}`);
      if (Date.now() > deadline) throw new Error(`turnserver silent after ${READY_TIMEOUT_MS} ms:\n${output()}`);
      socket.send(bindingRequest(), port, ip);
      const tick = new Promise<boolean>((r) => setTimeout(() => r(false), PROBE_INTERVAL_MS));
      if (await Promise.race([answered.then(() => true), tick])) return;
    }
  } finally {
    socket.close();
  }
}
