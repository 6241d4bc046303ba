// The C library calls the monitor needs beyond ioctl (which sys/libc.ts has): mmap for guest
// memory and the kvm_run page, and a POSIX timer aimed at this thread for the watchdog.
// Loaded on first use, like sys/libc.ts.

import { koffi, lastErrno } from '../sys/libc.ts';

export interface Pointer {
  /** The address as a number the kernel would see (for KVM_SET_USER_MEMORY_REGION). */
  readonly address: bigint;
  /** The koffi pointer object, for munmap and koffi.view. */
  readonly raw: unknown;
}

export interface KvmLibc {
  /** mmap(2); throws nothing: returns null and leaves errno on failure. */
  mmap(length: number, prot: number, flags: number, fd: number, offset: number): Pointer | null;
  munmap(p: Pointer, length: number): number;
  /** An ArrayBuffer over `length` bytes at p: no copy, the same memory the guest sees. */
  view(p: Pointer, length: number): ArrayBuffer;
  /** pthread_sigmask(how, set, old): the signal mask of the calling thread only. */
  sigmask(how: number, set: Buffer | null, old: Buffer | null): number;
  gettid(): number;
  /** timer_create(clock, sevp, &timer): the timer handle, or undefined on failure. */
  timerCreate(clock: number, sigevent: Buffer): { handle: unknown } | undefined;
  timerSettime(timer: unknown, itimerspec: Buffer): number;
  timerDelete(timer: unknown): number;
  /** sigtimedwait(set, NULL, timeout): the number of a pending signal in set, or -1. */
  sigtimedwait(set: Buffer, timeout: Buffer): number;
}

// <sys/mman.h>
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
// <signal.h>
export const SIG_BLOCK = 0;
export const SIG_SETMASK = 2;
export const SIGALRM = 14;
export const SIGEV_THREAD_ID = 4;
export const CLOCK_MONOTONIC = 1;

/** (void *) -1: what mmap returns on failure. */
const MAP_FAILED = 0xffffffffffffffffn;

let cached: KvmLibc | undefined;

export function kvmLibc(): KvmLibc {
  if (cached) return cached;
  const k = koffi();
  const lib = k.load('libc.so.6');
  const mmap = lib.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)');
  const munmap = lib.func('int munmap(void *addr, size_t length)');
  const sigmask = lib.func('int pthread_sigmask(int how, const void *set, void *oldset)');
  const gettid = lib.func('int gettid()');
  const timerCreate = lib.func('int timer_create(int clockid, void *sevp, void *timerid)');
  const timerSettime = lib.func('int timer_settime(void *timerid, int flags, const void *newv, void *oldv)');
  const timerDelete = lib.func('int timer_delete(void *timerid)');
  const sigtimedwait = lib.func('int sigtimedwait(const void *set, void *info, const void *timeout)');
  cached = {
    mmap(length, prot, flags, fd, offset) {
      const raw = mmap(null, length, prot, flags, fd, offset);
      const address = raw === null ? MAP_FAILED : (k.address(raw) as bigint);
      return address === MAP_FAILED ? null : { address, raw };
    },
    munmap: (p, length) => munmap(p.raw, length),
    view: (p, length) => k.view(p.raw, length),
    sigmask: (how, set, old) => sigmask(how, set, old),
    gettid: () => gettid(),
    timerCreate(clock, sigevent) {
      // timer_t is a pointer-sized handle the C library writes into our 8 bytes. For a
      // signal timer glibc uses the kernel's timer id, and the first one is 0: a NULL
      // handle is a valid timer, so success is the return code, not the handle.
      const out = Buffer.alloc(8);
      return timerCreate(clock, sigevent, out) === 0 ? { handle: k.decode(out, 'void *') } : undefined;
    },
    timerSettime: (timer, spec) => timerSettime((timer as { handle: unknown }).handle, 0, spec, null),
    timerDelete: (timer) => timerDelete((timer as { handle: unknown }).handle),
    sigtimedwait: (set, timeout) => sigtimedwait(set, null, timeout),
  };
  return cached;
}

export { lastErrno };
