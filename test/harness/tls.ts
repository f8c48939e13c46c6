// A certificate the tests make themselves (openssl, for 127.0.0.1 and localhost, valid one day),
// and the ways one test's clients trust it and nothing else: Node's https (`ca`), the attackers'
// WebSockets (libp2p's transport dials with the global WebSocket, which takes no TLS options), and
// Chromium (a flag naming the hash of the certificate's public key).
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WebSocket } from 'ws';
import type { TlsFiles } from '../../src/seed/http';

/** The test certificate's lifetime: long enough for any one run, too short to matter if it leaks. */
const CERT_DAYS = 1;

export interface TestCertificate extends TlsFiles {
  /** The certificate, PEM. */
  cert: string;
  /** Chromium's flag that trusts this certificate (and no other that fails its checks). */
  chromiumFlag: string;
  /** Removes the files. */
  remove(): Promise<void>;
}

/** A self-signed certificate and its key in a fresh folder, for DNS:localhost and IP:127.0.0.1. */
export async function makeTestCertificate(): Promise<TestCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'vgpu-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  // An end-entity certificate for a server, as a CA would issue one (browsers want the SAN).
  await promisify(execFile)('openssl', [
    ...['req', '-x509', '-nodes', '-days', String(CERT_DAYS), '-subj', '/CN=localhost'],
    ...['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'],
    ...['-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    ...['-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth'],
    ...['-keyout', keyFile, '-out', certFile],
  ]);
  const cert = await readFile(certFile, 'utf8');
  const spki = new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' });
  return {
    certFile,
    keyFile,
    cert,
    chromiumFlag: `--ignore-certificate-errors-spki-list=${createHash('sha256').update(spki).digest('base64')}`,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * Makes libp2p's WebSockets transport (in this process) trust `ca` on wss until the returned
 * function restores the WebSocket it replaced.
 */
export function trustInWebSockets(ca: string): () => void {
  const replaced = globalThis.WebSocket;
  globalThis.WebSocket = class extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { ca });
    }
  } as unknown as typeof globalThis.WebSocket;
  return () => {
    globalThis.WebSocket = replaced;
  };
}

/** GET over https trusting `ca`: the status and the body as text. */
export function getTrusting(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    }).on('error', reject);
  });
}
