// Content addressing: a blob's name is the sha256 of its bytes, written "sha256:<64 hex>".

import { createHash } from 'node:crypto';

const DIGEST = /^sha256:([a-f0-9]{64})$/;

export function sha256(data: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

/** The hex part of a digest, checked: a digest from a file is never trusted as a path. */
export function digestHex(digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new Error(`not a sha256 digest: ${JSON.stringify(digest)}`);
  return m[1];
}

export function isDigest(s: string): boolean {
  return DIGEST.test(s);
}

/** "sha256:0123456789ab" – the first 12 hex digits, as `docker images` shows an id. */
export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}
