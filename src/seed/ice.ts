// The ICE servers the seed tells tabs to use (in /swarm.json): STUN URLs as given, and TURN URLs
// with time-limited credentials in coturn's TURN REST scheme (`use-auth-secret` with
// `static-auth-secret`). The seed and coturn share a secret; the username names an expiry time and
// the credential is base64(HMAC-SHA1(secret, username)), so coturn checks both without an account
// list, and the secret itself never leaves the seed.
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * How long a TURN credential is accepted. A tab reads one each time it joins through /swarm.json
 * and keeps it while it stays; a day covers a long session, and a leaked credential buys no more
 * than what anyone gets by reading /swarm.json.
 */
export const TURN_CREDENTIAL_LIFETIME_S = 24 * 60 * 60;

/** Random bytes in the username's id part: tells credentials apart in coturn's logs. */
const CREDENTIAL_ID_BYTES = 8;

/** What the seed is told on the command line. */
export interface IceOptions {
  /** stun: or stuns: URLs. */
  stun: string[];
  /** turn: or turns: URLs, all served by coturn(s) that share `turnSecret`. */
  turn: string[];
  /** coturn's static-auth-secret (from --turn-secret-file); required with `turn`. */
  turnSecret?: string;
}

/** One entry of RTCConfiguration.iceServers, as /swarm.json carries it. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** A TURN REST username: `<expiry, unix seconds>:<id>` (coturn's default separator). */
export function turnUsername(expiresAtS: number, id: string): string {
  return `${expiresAtS}:${id}`;
}

/** The password coturn expects for `username`: base64(HMAC-SHA1(secret, username)). */
export function turnCredential(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

/** Refuses URLs a browser would refuse (RTCPeerConnection throws, and the tab could not join). */
export function checkIceOptions(opts: IceOptions): void {
  for (const url of opts.stun)
    if (!/^stuns?:[^\s/]+$/.test(url)) throw new Error(`--stun wants stun:host[:port], got ${url}`);
  for (const url of opts.turn)
    if (!/^turns?:[^\s/]+(\?transport=(udp|tcp))?$/.test(url))
      throw new Error(`--turn wants turn:host[:port][?transport=udp|tcp], got ${url}`);
  if (opts.turn.length > 0 && !opts.turnSecret)
    throw new Error('--turn needs --turn-secret-file (a file holding coturn static-auth-secret)');
  if (opts.turnSecret && opts.turn.length === 0) throw new Error('--turn-secret-file without --turn');
}

/**
 * The TURN secret from its file, trimmed. A file, not a flag: every user of the machine can read a
 * process's command line (ps), and whoever has the secret can mint TURN credentials.
 */
export function readTurnSecretFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`--turn-secret-file ${path}: ${(e as Error).message}`);
  }
  const secret = text.trim();
  if (secret === '') throw new Error(`--turn-secret-file ${path} is empty: put coturn's static-auth-secret in it`);
  return secret;
}

/**
 * The ICE servers for one tab at `nowMs`: the STUN URLs, and the TURN URLs with a credential of its
 * own that expires TURN_CREDENTIAL_LIFETIME_S later. Empty without options.
 */
export function iceServersFor(
  opts: IceOptions,
  nowMs: number,
  id = randomBytes(CREDENTIAL_ID_BYTES).toString('hex'),
): IceServer[] {
  const servers: IceServer[] = opts.stun.length > 0 ? [{ urls: opts.stun }] : [];
  if (opts.turn.length > 0 && opts.turnSecret) {
    const username = turnUsername(Math.floor(nowMs / 1000) + TURN_CREDENTIAL_LIFETIME_S, id);
    servers.push({ urls: opts.turn, username, credential: turnCredential(opts.turnSecret, username) });
  }
  return servers;
}
