// Content addressing: a blob's name is the sha256 of its bytes, written "sha256:<64 hex>".

import { sha256Hex } from './sha256.ts';

// node:crypto is loaded on first use, not at start: initialising OpenSSL costs box ~15 ms.
const crypto = () => process.getBuiltinModule('node:crypto') as typeof import('node:crypto');

const DIGEST = /^sha256:([a-f0-9]{64})$/;

const SMALL = 64 * 1024; // below this our own SHA-256 is quicker than starting OpenSSL

export function sha256(data: Uint8Array | string): string {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  if (bytes.length <= SMALL) return 'sha256:' + sha256Hex(bytes);
  return 'sha256:' + crypto().createHash('sha256').update(bytes).digest('hex');
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
