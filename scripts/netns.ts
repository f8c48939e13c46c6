// A private network namespace for runs that open WebRTC between tabs: headless tabs on one machine
// only connect over a veth pair with a default route (loopback alone is not enough).
// Traffic stays inside the namespace. `npm test` and `npm run bench -- swarm` re-run inside one.
import { spawnSync } from 'node:child_process';

/** Set inside the namespace, so a re-run command knows not to wrap itself again. */
export const NETNS_ENV = 'VGPU_NETNS';

const SETUP = [
  'ip link set lo up',
  'ip link add v0 type veth peer name v1',
  'ip addr add 10.99.0.1/24 dev v0',
  'ip addr add 10.99.0.2/24 dev v1',
  'ip link set v0 up',
  'ip link set v1 up',
  'ip route add default via 10.99.0.2',
].join(' && ');

export const NETNS_HELP =
  'This run needs a private network namespace (`unshare -rn` plus `ip` from iproute2) for WebRTC between tabs. ' +
  'Install them (Debian: `apt-get install -y util-linux iproute2`) and allow unprivileged user namespaces ' +
  '(`sysctl -w kernel.unprivileged_userns_clone=1`), or run as root.';

export function inNetns(): boolean {
  return process.env[NETNS_ENV] === '1';
}

/** Whether this machine can make the namespace: tried once, costs a few milliseconds. */
export function netnsAvailable(): boolean {
  return spawnSync('unshare', ['-rn', 'sh', '-c', SETUP], { stdio: 'ignore' }).status === 0;
}

/** Runs `command` inside a fresh namespace and returns its exit status. */
export function runInNetns(command: string[], env: NodeJS.ProcessEnv = process.env): number {
  const result = spawnSync('unshare', ['-rn', 'sh', '-c', `${SETUP} && exec "$@"`, 'netns', ...command], {
    stdio: 'inherit',
    env: { ...env, [NETNS_ENV]: '1' },
  });
  return result.status ?? 1;
}
