// Random ids for containers, networks and anonymous volumes: 64 hex digits, as Docker's.
// Read from the kernel's /dev/urandom: importing node:crypto would add to every box's start.

import fs from 'node:fs';

/** `n` random bytes from the kernel. */
export function kernelRandomBytes(n: number): Buffer {
  const buf = Buffer.alloc(n);
  const fd = fs.openSync('/dev/urandom', 'r');
  try {
    fs.readSync(fd, buf, 0, n, null);
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

/** 32 random bytes as 64 hex digits. */
export const randomHexId = (): string => kernelRandomBytes(32).toString('hex');
