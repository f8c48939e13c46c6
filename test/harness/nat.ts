// Homes behind NAT, built below the network namespace the tests run in (scripts/netns.ts). The
// "public" network is a bridge in a namespace of its own, made once before any test
// (buildPublicNetwork, from the global setup); the tests' namespace sits on it as PUBLIC_IP, where
// the seed, coturn and the page server listen. Each home is two more namespaces, a router and the
// home's LAN:
//
//   home LAN 192.168.<i>.2 ── 192.168.<i>.1 router 10.200.0.1<i> ── bridge ── 10.200.0.1 (seed, coturn)
//
// Nothing in the tests' own namespace changes after the setup: Chromium fails every request in
// flight when its network changes (net::ERR_NETWORK_CHANGED), and the e2e tabs run there meanwhile.
//
// Routers masquerade with nftables and drop unsolicited inbound packets, like a home router:
// 'cone' keeps a LAN socket's port for every destination (endpoint-independent mapping, Linux's
// default), so hole punching works between two such homes; 'symmetric' picks a random port per
// destination (`masquerade fully-random`), so only a TURN relay reaches it from another home.
// A namespace lives as long as the process holding it; commands enter it with nsenter. Needs root
// in the namespace (`unshare -r`), iproute2 and nftables (scripts/install-coturn.sh).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readlinkSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { inNetns } from '../../scripts/netns';

/** The public network's prefix; the tests' own namespace holds PUBLIC_NET.1. */
const PUBLIC_NET = '10.200.0';
export const PUBLIC_IP = `${PUBLIC_NET}.1`;
/** The public namespace's holder pid, for the test workers (set by the global setup). */
const PUBLIC_NETNS_ENV = 'VGPU_PUBLIC_NETNS';
/** The bridge of the public namespace. */
const BRIDGE = 'pubbr';

/** How long a new namespace gets to appear. */
const NAMESPACE_TIMEOUT_MS = 5_000;

export type NatKind = 'cone' | 'symmetric';

/** A network namespace held open by a process; `sh` runs a script inside it. */
export interface Namespace {
  pid: number;
  sh(script: string): void;
  stop(): void;
}

export interface Home {
  /** 1, 2, ...: the LAN is 192.168.<index>.0/24 and the router's public address PUBLIC_NET.1<index>. */
  index: number;
  nat: NatKind;
  lan: Namespace;
  router: Namespace;
}

export interface Homes {
  homes: Home[];
  stop(): void;
}

/** Runs `script` in sh, in this namespace or (after `enter`, an nsenter command) in another. */
function sh(script: string, enter: string[] = []): void {
  const [command, ...args] = [...enter, 'sh', '-c', script];
  const r = spawnSync(command!, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${script}\nfailed (${r.status}): ${r.stderr}`);
}

/** Namespace `pid` is in: scripts run there through nsenter. */
function namespaceOf(pid: number, stop: () => void): Namespace {
  return { pid, sh: (script) => sh(script, ['nsenter', '-t', String(pid), '-n']), stop };
}

/**
 * A fresh namespace, once `unshare -n` has moved its holder into it (a state, not a sleep). The
 * holder reads its stdin until it closes, so the namespace goes when stop() is called or when this
 * process ends, however it ends.
 */
async function newNamespace(): Promise<Namespace> {
  const holder: ChildProcess = spawn('unshare', ['-n', 'sh', '-c', 'read _'], { stdio: ['pipe', 'ignore', 'ignore'] });
  const pid = holder.pid!;
  const own = readlinkSync('/proc/self/ns/net');
  const deadline = Date.now() + NAMESPACE_TIMEOUT_MS;
  for (;;) {
    try {
      if (readlinkSync(`/proc/${pid}/ns/net`) !== own) break;
    } catch {
      // Not there yet, or gone: the checks below say which.
    }
    if (holder.exitCode !== null) throw new Error(`unshare -n exited (${holder.exitCode}): ${NAT_HELP}`);
    if (Date.now() > deadline) throw new Error(`no namespace after ${NAMESPACE_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  // Neither keeps this process alive; the pipe still closes when it exits.
  holder.unref();
  (holder.stdin as unknown as { unref(): void }).unref();
  return namespaceOf(pid, () => void holder.kill('SIGKILL'));
}

export const NAT_HELP =
  'The NAT tests build network namespaces (unshare, nsenter, ip) and masquerading routers (nft) ' +
  'inside the one `npm test` runs in: Debian `apt-get install -y util-linux iproute2 nftables`.';

/**
 * The router's nftables ruleset: masquerade out of `wan`, and let in only what answers the LAN.
 * Unsolicited packets to the router are dropped silently, as home routers do: answered (ICMP port
 * unreachable), each would leave a conntrack entry on its port, and the NAT would then map the LAN
 * socket to another port for that peer, defeating a hole punch that was about to succeed.
 */
function routerRules(wan: string, lan: string, nat: NatKind): string {
  return `table ip home {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "${wan}" ct state new drop
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    iifname "${lan}" accept
    ct state established,related accept
  }
  chain postrouting {
    type nat hook postrouting priority srcnat;
    oifname "${wan}" masquerade${nat === 'symmetric' ? ' fully-random' : ''}
  }
}`;
}

/**
 * The public network: a bridge in a namespace of its own, and a link from this namespace onto it
 * (PUBLIC_IP). Made by the global setup before any browser starts; buildHomes() finds it through
 * the environment the workers inherit. Only inside the namespace scripts/netns.ts makes: never a
 * link on the machine's own network.
 */
export async function buildPublicNetwork(): Promise<Namespace> {
  if (!inNetns()) throw new Error('the NAT tests run inside the test namespace: `npm test` makes it');
  const pub = await newNamespace();
  try {
    sh(
      [
        'ip link add pub type veth peer name uplink',
        `ip addr add ${PUBLIC_IP}/24 dev pub`,
        'ip link set pub up',
        `ip link set uplink netns ${pub.pid}`,
      ].join(' && '),
    );
    pub.sh(
      `ip link set lo up && ip link add ${BRIDGE} type bridge && ip link set ${BRIDGE} up && ip link set uplink master ${BRIDGE} up`,
    );
  } catch (e) {
    pub.stop();
    throw e;
  }
  process.env[PUBLIC_NETNS_ENV] = String(pub.pid);
  return pub;
}

/** One home per entry of `nats` on the public network (buildPublicNetwork); stop() removes them. */
export async function buildHomes(nats: NatKind[]): Promise<Homes> {
  const pid = Number(process.env[PUBLIC_NETNS_ENV]);
  if (!inNetns() || !pid) throw new Error('the NAT tests run inside the test namespace: `npm test` makes it');
  const pub = namespaceOf(pid, () => {});
  const made: Namespace[] = [];
  const stop = () => {
    for (const ns of made) ns.stop();
    // The routers' links onto the bridge go with their namespaces; removed here too so that the
    // names are free at once (those never made are no error).
    pub.sh(nats.map((_, i) => `ip link del pub${i + 1} 2>/dev/null || true`).join('; '));
  };
  try {
    const homes: Home[] = [];
    for (const [i, nat] of nats.entries()) {
      const index = i + 1;
      const router = await newNamespace();
      made.push(router);
      const lan = await newNamespace();
      made.push(lan);
      const [wan, port, inside, host] = [`wan${index}`, `pub${index}`, `lan${index}`, `eth${index}`];
      const publicIp = `${PUBLIC_NET}.1${index}`;
      const lanIp = `192.168.${index}.2`;
      pub.sh(
        [
          `ip link add ${wan} type veth peer name ${port}`,
          `ip link set ${port} master ${BRIDGE} up`,
          `ip link set ${wan} netns ${router.pid}`,
          `ip link add ${inside} type veth peer name ${host}`,
          `ip link set ${inside} netns ${router.pid}`,
          `ip link set ${host} netns ${lan.pid}`,
        ].join(' && '),
      );
      router.sh(
        [
          'ip link set lo up',
          `ip addr add ${publicIp}/24 dev ${wan} && ip link set ${wan} up`,
          `ip addr add 192.168.${index}.1/24 dev ${inside} && ip link set ${inside} up`,
          'sysctl -qw net.ipv4.ip_forward=1',
          `nft -f - <<'EOF'\n${routerRules(wan, inside, nat)}\nEOF`,
        ].join('\n'),
      );
      lan.sh(
        [
          'ip link set lo up',
          `ip addr add ${lanIp}/24 dev ${host} && ip link set ${host} up`,
          `ip route add default via 192.168.${index}.1`,
        ].join(' && '),
      );
      homes.push({ index, nat, lan, router });
    }
    return { homes, stop };
  } catch (e) {
    stop();
    throw e;
  }
}

/**
 * The source ports the public network sees when one LAN socket of `home` sends to two ports of
 * PUBLIC_IP: equal behind a cone NAT, different behind a symmetric one. A check that the routers
 * are what the test says they are.
 */
export async function mappedPorts(home: Home): Promise<[number, number]> {
  const servers = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<{ port: number; seen: Promise<number>; close(): void }>((resolve) => {
          const socket = createSocket('udp4');
          const seen = new Promise<number>((r) => socket.once('message', (_msg, from) => r(from.port)));
          socket.bind(0, PUBLIC_IP, () => resolve({ port: socket.address().port, seen, close: () => socket.close() }));
        }),
    ),
  );
  try {
    // One socket, two destinations; a few sends each in case the first is lost.
    const send = `const s = require('node:dgram').createSocket('udp4'); s.bind(0, () => { for (let i = 0; i < 3; i++) ${servers
      .map((s) => `s.send('x', ${s.port}, '${PUBLIC_IP}');`)
      .join(' ')} setTimeout(() => s.close(), 200); });`;
    home.lan.sh(`${JSON.stringify(process.execPath)} -e ${JSON.stringify(send)}`);
    const [a, b] = await Promise.all(servers.map((s) => s.seen));
    return [a!, b!];
  } finally {
    for (const s of servers) s.close();
  }
}

/**
 * Serves `target` (host:port in this namespace, e.g. the Vite server on loopback) at `host`, a
 * public address the homes reach; resolves with the port and a close function.
 */
export async function forwardTcp(host: string, target: { host: string; port: number }) {
  const sockets = new Set<{ destroy(): void }>();
  const server = createServer((inbound) => {
    const outbound = createConnection(target);
    sockets.add(inbound).add(outbound);
    inbound.pipe(outbound).pipe(inbound);
    const close = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on('error', close).on('close', close);
    outbound.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  // Browsers keep connections open: closing ends them, or server.close() would wait for them.
  const close = () => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { port, close };
}

/**
 * A Chromium that runs inside `ns`: an executable for Playwright's launch() that enters the
 * namespace, then runs `chromium` with the arguments Playwright gives (its control pipe is inherited).
 */
export async function chromiumIn(ns: Namespace, chromium: string, dir: string): Promise<string> {
  const path = `${dir}/chromium-in-${ns.pid}.sh`;
  await writeFile(path, `#!/bin/sh\nexec nsenter -t ${ns.pid} -n ${chromium} "$@"\n`);
  await chmod(path, 0o755);
  return path;
}
