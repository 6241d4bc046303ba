// Network ids: 64 hex digits from the kernel's random source, as container ids.

import fs from 'node:fs';

export function newNetworkId(): string {
  const buf = Buffer.alloc(32);
  const fd = fs.openSync('/dev/urandom', 'r');
  try {
    fs.readSync(fd, buf, 0, 32, null);
  } finally {
    fs.closeSync(fd);
  }
  return buf.toString('hex');
}
