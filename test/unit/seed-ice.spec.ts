// The ICE servers the seed publishes: TURN REST credentials (coturn's use-auth-secret scheme)
// checked against HMAC-SHA1 computed another way (a published test vector, and WebCrypto), the
// options the seed refuses, and the tab's check of what /swarm.json carries.
import { webcrypto } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import {
  checkIceOptions,
  iceServersFor,
  readTurnSecretFile,
  TURN_CREDENTIAL_LIFETIME_S,
  turnCredential,
  turnUsername,
} from '../../src/seed/ice';
import { transportIceServers } from '../../src/swarm/nodes';
import { parseIceServers } from '../../src/tab/connect';

/** HMAC-SHA1 through WebCrypto, base64: what coturn computes with OpenSSL. */
async function hmacSha1Base64(secret: string, message: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await webcrypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-1' }, false, [
    'sign',
  ]);
  return Buffer.from(await webcrypto.subtle.sign('HMAC', key, enc.encode(message))).toString('base64');
}

test('the TURN credential is base64(HMAC-SHA1(secret, username))', async () => {
  // The HMAC-SHA1 example everyone quotes (Wikipedia, "HMAC"): key "key", this sentence.
  const published = Buffer.from('de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9', 'hex').toString('base64');
  expect(turnCredential('key', 'The quick brown fox jumps over the lazy dog')).toBe(published);

  const username = turnUsername(1_800_000_000, 'tab-1');
  expect(username).toBe('1800000000:tab-1');
  expect(turnCredential('north-shore-secret', username)).toBe(await hmacSha1Base64('north-shore-secret', username));
});

test('tabs get the STUN URLs, and TURN URLs with a credential that expires a lifetime later', async () => {
  const none = { stun: [], turn: [] };
  expect(iceServersFor(none, Date.now())).toEqual([]);

  const stun = ['stun:198.51.100.1:3478'];
  expect(iceServersFor({ ...none, stun }, Date.now())).toEqual([{ urls: stun }]);

  const turn = ['turn:198.51.100.1:3478', 'turn:198.51.100.1:3478?transport=tcp'];
  const nowMs = 1_700_000_000_500;
  const servers = iceServersFor({ stun, turn, turnSecret: 's3cret' }, nowMs, 'abc');
  const username = `${1_700_000_000 + TURN_CREDENTIAL_LIFETIME_S}:abc`;
  expect(servers).toEqual([
    { urls: stun },
    { urls: turn, username, credential: await hmacSha1Base64('s3cret', username) },
  ]);
  // The secret itself is nowhere in what a tab receives.
  expect(JSON.stringify(servers)).not.toContain('s3cret');

  // Each tab gets a username of its own.
  const [, a] = iceServersFor({ stun, turn, turnSecret: 's3cret' }, nowMs);
  const [, b] = iceServersFor({ stun, turn, turnSecret: 's3cret' }, nowMs);
  expect(a!.username).toMatch(new RegExp(`^${1_700_000_000 + TURN_CREDENTIAL_LIFETIME_S}:[0-9a-f]{16}$`));
  expect(a!.username).not.toBe(b!.username);
});

test('the seed refuses ICE options a browser or coturn would refuse', () => {
  const ok = { stun: ['stun:stun.example.org:3478'], turn: ['turns:turn.example.org:5349'], turnSecret: 'x' };
  expect(() => checkIceOptions(ok)).not.toThrow();
  expect(() => checkIceOptions({ ...ok, stun: ['https://stun.example.org'] })).toThrow(/--stun/);
  expect(() => checkIceOptions({ ...ok, turn: ['stun:turn.example.org'] })).toThrow(/--turn wants/);
  expect(() => checkIceOptions({ ...ok, turnSecret: undefined })).toThrow(/--turn needs --turn-secret-file/);
  expect(() => checkIceOptions({ stun: [], turn: [], turnSecret: 'x' })).toThrow(/--turn-secret-file without --turn/);
});

test("the tab takes /swarm.json's ICE servers when well formed, none when absent", () => {
  expect(parseIceServers(undefined)).toEqual([]);
  const servers = [{ urls: ['stun:a:3478'] }, { urls: 'turn:a:3478', username: '1:x', credential: 'c' }];
  expect(parseIceServers(servers)).toEqual(servers);
  expect(() => parseIceServers({ urls: 'stun:a' })).toThrow(/iceServers/);
  expect(() => parseIceServers([{ urls: [] }])).toThrow(/iceServers/);
  expect(() => parseIceServers([{ urls: ['turn:a'], credential: 7 }])).toThrow(/iceServers/);
});

test('the TURN secret comes from a file, trimmed; a missing or empty file is refused, naming it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vgpu-turn-secret-'));
  try {
    await writeFile(join(dir, 'secret'), '  0123abcd\n');
    expect(readTurnSecretFile(join(dir, 'secret'))).toBe('0123abcd');
    await writeFile(join(dir, 'empty'), '\n');
    expect(() => readTurnSecretFile(join(dir, 'empty'))).toThrow(`--turn-secret-file ${join(dir, 'empty')} is empty`);
    expect(() => readTurnSecretFile(join(dir, 'missing'))).toThrow(
      `--turn-secret-file ${join(dir, 'missing')}: ENOENT`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("ICE servers go to a browser's WebRTC as they are, and percent-encoded to node-datachannel's", () => {
  const servers = [
    { urls: ['stun:s:3478'] },
    { urls: ['turn:t:3478'], username: '1700000000:ab12', credential: 'a+b/c=' },
  ];
  expect(transportIceServers(servers, true)).toBe(servers);
  expect(transportIceServers(servers, false)).toEqual([
    { urls: ['stun:s:3478'] },
    { urls: ['turn:t:3478'], username: '1700000000%3Aab12', credential: 'a%2Bb%2Fc%3D' },
  ]);
});
