// The few libc calls the image store needs that Node's fs module lacks: mknod (overlayfs
// whiteouts), extended attributes (opaque directories, file capabilities) and flock (one
// writer of index.json at a time). Bound through koffi on first use, like sys/libc.ts.

import { koffi, lastErrno } from '../sys/libc.ts';
import { SysError } from '../sys/errors.ts';
import { q } from '../sys/trace.ts';

interface ImageLibc {
  mknod(path: string, mode: number, dev: bigint): number;
  lsetxattr(path: string, name: string, value: Buffer, size: number, flags: number): number;
  lgetxattr(path: string, name: string, value: Buffer | null, size: number): number;
  llistxattr(path: string, list: Buffer | null, size: number): number;
  flock(fd: number, operation: number): number;
}

let cached: ImageLibc | undefined;

function lib(): ImageLibc {
  if (cached) return cached;
  const c = koffi().load('libc.so.6');
  cached = {
    // glibc exports mknod as a real symbol since 2.33 (before, it was a macro over __xmknod).
    mknod: c.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    lsetxattr: c.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
    lgetxattr: c.func('long lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)'),
    llistxattr: c.func('long llistxattr(const char *path, _Out_ char *list, size_t size)'),
    flock: c.func('int flock(int fd, int operation)'),
  };
  return cached;
}

// <sys/stat.h>
export const S_IFCHR = 0o020000;
// <sys/file.h>
export const LOCK_EX = 2;
export const LOCK_UN = 8;
const EINTR = 4;

function check(call: string, args: string, rc: number): void {
  if (rc < 0) throw new SysError(call, args, lastErrno());
}

/**
 * An overlayfs whiteout: a character device with device number 0/0. When overlayfs finds
 * one in an upper layer, the file of that name in the layers below is hidden.
 */
export function mknodWhiteout(path: string): void {
  check('mknod', `${q(path)}, S_IFCHR|0000, makedev(0, 0)`, lib().mknod(path, S_IFCHR, 0n));
}

/** Set an extended attribute on a path, not following a symlink at the end of it. */
export function lsetxattr(path: string, name: string, value: Buffer): void {
  check('lsetxattr', `${q(path)}, ${q(name)}, ${q(value.toString('latin1'))}, ${value.length}, 0`,
    lib().lsetxattr(path, name, value, value.length, 0));
}

/** An extended attribute's value, or undefined if the path does not have it. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  const buf = Buffer.alloc(4096);
  const n = Number(lib().lgetxattr(path, name, buf, buf.length));
  if (n < 0) {
    const errno = lastErrno();
    // ENODATA: not set. EOPNOTSUPP: this filesystem has no such namespace of xattrs (user.*
    // on a tmpfs before Linux 6.6), so it cannot be set either.
    if (errno === 61 /* ENODATA */ || errno === 95 /* EOPNOTSUPP */) return undefined;
    throw new SysError('lgetxattr', `${q(path)}, ${q(name)}`, errno);
  }
  return buf.subarray(0, n);
}

/** The names of a path's extended attributes (not following a symlink at the end of it). */
let listBuf: Buffer | undefined;

export function llistxattr(path: string): string[] {
  const buf = (listBuf ??= Buffer.alloc(65536)); // XATTR_LIST_MAX: the kernel never returns more
  const n = Number(lib().llistxattr(path, buf, buf.length));
  if (n < 0) {
    const errno = lastErrno();
    if (errno === 95 /* EOPNOTSUPP */) return [];
    throw new SysError('llistxattr', q(path), errno);
  }
  return buf.toString('latin1', 0, n).split('\0').filter(Boolean);
}

/** flock(2), retried if a signal interrupts the wait. The lock goes when the fd is closed. */
export function flock(fd: number, operation: number): void {
  for (;;) {
    const rc = lib().flock(fd, operation);
    if (rc === 0) return;
    const errno = lastErrno();
    if (errno !== EINTR) throw new SysError('flock', `${fd}, ${operation === LOCK_EX ? 'LOCK_EX' : operation}`, errno);
  }
}
