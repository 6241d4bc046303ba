// koffi bindings to the C library. Loaded on first use: commands that make no system
// calls (box ps, box --help) never pay for loading koffi.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface Libc {
  unshare(flags: number): number;
  setns(fd: number, nstype: number): number;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): number;
  umount2(target: string, flags: number): number;
  sethostname(name: string, len: number): number;
  kill(pid: number, sig: number): number;
  ioctl(fd: number, request: number, arg: bigint | number): number;
  ioctlPtr(fd: number, request: number, arg: Buffer | null): number;
  mmap(addr: null, length: number, prot: number, flags: number, fd: number, offset: number): unknown;
  munmap(addr: unknown, length: number): number;
  prctl(option: number, a2: number, a3: number, a4: number, a5: number): number;
  close(fd: number): number;
  /** syscall(2) with integer arguments, for calls glibc has no wrapper for (pidfd_getfd...). */
  syscall(nr: number, ...args: number[]): number;
}

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
  cached = {
    unshare: lib.func('int unshare(int flags)'),
    setns: lib.func('int setns(int fd, int nstype)'),
    mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
    umount2: lib.func('int umount2(const char *target, int flags)'),
    sethostname: lib.func('int sethostname(const char *name, size_t len)'),
    kill: lib.func('int kill(int pid, int sig)'),
    // ioctl(2) is variadic in C; these are its two shapes box uses: an integer argument,
    // and a pointer to a buffer the kernel reads or fills in.
    ioctl: (fd: number, req: number, arg: bigint | number) => ioctl(fd, req, 'unsigned long', arg),
    ioctlPtr: (fd: number, req: number, arg: Buffer | null) => ioctl(fd, req, 'void *', arg),
    mmap: lib.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)'),
    munmap: lib.func('int munmap(void *addr, size_t length)'),
    prctl: lib.func('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)'),
    close: lib.func('int close(int fd)'),
    syscall: (nr: number, ...args: number[]) => Number(syscall(nr, ...args.flatMap((a) => ['long', a]))),
  };
  return cached;
}

/** errno of the last failed libc call on this thread. */
export function lastErrno(): number {
  return koffi().errno();
}
