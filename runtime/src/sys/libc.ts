// koffi bindings to the C library, for the calls Node has no API for. Loaded on first use:
// `box run` without a terminal never loads koffi at all.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface Libc {
  ioctl(fd: number, request: number, arg: bigint | number): number;
  ioctlPtr(fd: number, request: number, arg: Buffer | null): number;
  close(fd: number): number;
  /** syscall(2) with integer arguments, for calls glibc has no wrapper for (pidfd_getfd...). */
  syscall(nr: number, ...args: number[]): number;
  /** getsockopt(2) into a buffer: SO_PEERCRED, who is at the other end of a unix socket. */
  getsockopt(fd: number, level: number, name: number, value: Buffer, length: Buffer): number;
  /** bpf(2): `attr` is union bpf_attr, laid out by the caller. */
  bpf(cmd: number, attr: Buffer): number;
  /** openat2(2): `path` NUL-terminated, `how` a struct open_how laid out by the caller (sys/in-root.ts). */
  openat2(dirfd: number, path: Buffer, how: Buffer): number;
  /** Where a buffer's memory is, for structures that hold pointers (bpf_attr). */
  address(buf: Buffer): bigint;
  /** mknod(2): a device node (glibc exports it as a symbol since 2.33). */
  mknod(path: string, mode: number, dev: bigint): number;
  /** umount2(2): with MNT_DETACH, the mount leaves the tree now and goes when its last user does (umount -l). */
  umount2(target: string, flags: number): number;
}

const SYS_bpf = 321;
const SYS_openat2 = 437;

let cached: Libc | undefined;
let koffiModule: any;

export function koffi(): any {
  koffiModule ??= require('koffi');
  return koffiModule;
}

export function libc(): Libc {
  if (cached) return cached;
  const k = koffi();
  const lib = k.load('libc.so.6');
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, ...)');
  const syscall = lib.func('long syscall(long number, ...)');
  const memset = lib.func('void *memset(void *s, int c, size_t n)');
  cached = {
    // ioctl(2) is variadic in C; these are its two shapes box uses: an integer argument,
    // and a pointer to a buffer the kernel reads or fills in.
    ioctl: (fd: number, req: number, arg: bigint | number) => ioctl(fd, req, 'unsigned long', arg),
    ioctlPtr: (fd: number, req: number, arg: Buffer | null) => ioctl(fd, req, 'void *', arg),
    close: lib.func('int close(int fd)'),
    syscall: (nr: number, ...args: number[]) => Number(syscall(nr, ...args.flatMap((a) => ['long', a]))),
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, void *value, void *length)'),
    bpf: (cmd: number, attr: Buffer) => Number(syscall(SYS_bpf, 'int', cmd, 'void *', attr, 'unsigned int', attr.length)),
    openat2: (dirfd: number, path: Buffer, how: Buffer) => Number(syscall(SYS_openat2, 'int', dirfd, 'void *', path, 'void *', how, 'size_t', how.length)),
    // memset(buf, 0, 0) does nothing and returns buf: koffi passes a Buffer's own memory (no
    // copy), so this is the address the kernel must be given.
    address: (buf: Buffer) => BigInt(k.address(memset(buf, 0, 0))),
    mknod: lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    umount2: lib.func('int umount2(const char *target, int flags)'),
  };
  return cached;
}

/** errno of the last failed libc call on this thread. */
export function lastErrno(): number {
  return koffi().errno();
}
