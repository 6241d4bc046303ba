// A file of a running container, edited from the host with the path resolved inside the
// container's root. /proc/PID/root is the container's root as the host sees it; but a plain
// open("/proc/PID/root/etc/hosts") resolves a symlink the container planted there
// ("/etc/hosts -> /etc/shadow") against the HOST's root, and would write the host's file.
// openat2(2) with RESOLVE_IN_ROOT resolves every component, symlinks included, as if the
// directory fd were "/": the walk cannot leave the container's root (runc's securejoin and
// box-init's mounts rely on the same). RESOLVE_NO_MAGICLINKS refuses /proc/self/fd/N-style
// links, which point anywhere.

import fs from 'node:fs';
import { lastErrno, libc } from './libc.ts';

const O_PATH = 0o10000000;
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_IN_ROOT = 0x10;

/** Open `inside` (a path in the container, e.g. /etc/hosts) of process `pid`'s root; -errno on failure. */
function openInRoot(pid: number, inside: string, flags: number): number {
  let root: number;
  try {
    root = fs.openSync(`/proc/${pid}/root`, O_PATH | fs.constants.O_DIRECTORY);
  } catch (err) {
    return -((err as NodeJS.ErrnoException).errno ?? 1); // the process is gone
  }
  try {
    const how = Buffer.alloc(24); // struct open_how { u64 flags, mode, resolve; }
    how.writeBigUInt64LE(BigInt(flags | fs.constants.O_NOCTTY | 0o2000000 /* O_CLOEXEC */), 0);
    how.writeBigUInt64LE(BigInt(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), 16);
    const path = Buffer.from(`${inside.replace(/^\/+/, '')}\0`);
    const fd = libc().openat2(root, path, how);
    return fd >= 0 ? fd : -lastErrno();
  } finally {
    fs.closeSync(root);
  }
}

/**
 * Rewrite a regular file of the container: `change` gets its text and returns the new text,
 * or null to leave it. False when there is no such regular file (gone, a directory, a FIFO
 * the container made to block us: opened non-blocking and refused by its type).
 */
export function editInRoot(pid: number, inside: string, change: (text: string) => string | null): boolean {
  const fd = openInRoot(pid, inside, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  if (fd < 0) return false;
  try {
    if (!fs.fstatSync(fd).isFile()) return false;
    const next = change(fs.readFileSync(fd, 'utf8'));
    if (next === null) return true;
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, next, 0);
    return true;
  } finally {
    fs.closeSync(fd);
  }
}
