// Signed documents: a JSON body signed with a libp2p key. The seed signs manifests (and, later,
// round manifests and receipts); a tab checks them against the seed's peer id before using them.

import type { PeerId, PrivateKey, PublicKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { fromBase64, fromUtf8, sha256Hex, toBase64, utf8 } from './bytes';
import { MAX_SIGNED_DOCUMENT_BYTES } from './limits';

/** What travels: the exact body bytes (as a string), who signed them, and the signature. */
export interface SignedDocument {
  body: string;
  /** Peer id of the signer; an Ed25519 peer id carries its public key. */
  signer: string;
  /** base64 signature over DOMAIN + body. */
  signature: string;
}

export interface VerifiedDocument<T> {
  /** sha256 of the body: the document's content address. */
  id: string;
  value: T;
  signed: SignedDocument;
}

/** Prefix of every signed payload, so these signatures cannot be replayed as libp2p ones (or back). */
const DOMAIN = 'vgpu/signed-document/v1\n';

export class SignatureError extends Error {
  override name = 'SignatureError';
}

export async function signDocument(key: PrivateKey, signer: PeerId, value: unknown): Promise<SignedDocument> {
  const body = JSON.stringify(value);
  const size = utf8(body).length;
  if (size > MAX_SIGNED_DOCUMENT_BYTES)
    throw new Error(`document is ${size} bytes, over the ${MAX_SIGNED_DOCUMENT_BYTES}-byte limit`);
  const signature = await key.sign(utf8(DOMAIN + body));
  return { body, signer: signer.toString(), signature: toBase64(signature) };
}

/**
 * Checks that `doc` is well formed, was signed by `expectedSigner`, and that the signature holds;
 * returns the body, checked by `parse`. Throws SignatureError saying which check failed (or parse's error).
 */
export async function verifyDocument<T>(
  doc: unknown,
  expectedSigner: PeerId | string,
  parse: (value: unknown) => T,
): Promise<VerifiedDocument<T>> {
  if (typeof doc !== 'object' || doc === null) throw new SignatureError('signed document: not an object');
  const { body, signer, signature } = doc as Record<string, unknown>;
  if (typeof body !== 'string' || typeof signer !== 'string' || typeof signature !== 'string') {
    throw new SignatureError('signed document: body, signer and signature must be strings');
  }
  if (utf8(body).length > MAX_SIGNED_DOCUMENT_BYTES)
    throw new SignatureError(`signed document: body over the ${MAX_SIGNED_DOCUMENT_BYTES}-byte limit`);
  if (signer !== expectedSigner.toString())
    throw new SignatureError(`signed document: signed by ${signer}, expected ${expectedSigner.toString()}`);
  let publicKey: PublicKey | undefined;
  try {
    publicKey = peerIdFromString(signer).publicKey;
  } catch {
    throw new SignatureError(`signed document: signer ${signer} is not a peer id`);
  }
  if (!publicKey) throw new SignatureError(`signed document: signer ${signer} does not embed a public key`);
  let sig: Uint8Array;
  try {
    sig = fromBase64(signature);
  } catch {
    throw new SignatureError('signed document: signature is not base64');
  }
  const bodyBytes = utf8(body);
  let valid = false;
  try {
    valid = await publicKey.verify(utf8(DOMAIN + body), sig);
  } catch {
    // A signature of the wrong length throws inside the key: it is just as bad.
  }
  if (!valid) throw new SignatureError('signed document: bad signature');
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(bodyBytes));
  } catch {
    throw new SignatureError('signed document: body is not JSON');
  }
  return { id: await sha256Hex(bodyBytes), value: parse(value), signed: { body, signer, signature } };
}
