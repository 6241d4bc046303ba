// Applying a security plan to the calling thread, through koffi.
//
// The container's init does these steps in C just before it execs the user's command. This
// TypeScript version lets the tests prove on the real kernel that the masks and filter bytes
// box computes do what they claim, and lets a lesson apply one step at a time.
//
// Capabilities, the bounding set, no_new_privs and seccomp filters are all per-thread state in
// Linux (they live in the task's credentials), so in Node they change only the main thread,
// which is the thread that runs JavaScript and that child_process forks from: a child spawned
// afterwards inherits them; V8's and libuv's other threads keep what they had.

import fs from 'node:fs';
import { SysError } from '../sys/errors.ts';
import { koffi } from '../sys/libc.ts';
import type { Trace } from '../sys/trace.ts';
import { capHex, capName } from './capabilities.ts';
import type { SecurityPlan } from './plan.ts';
import { SECCOMP_SET_MODE_FILTER } from './seccomp.ts';
import { syscallNumber } from './syscalls_x86_64.ts';

// <linux/prctl.h>
export const PR_SET_KEEPCAPS = 8;
export const PR_CAPBSET_READ = 23;
export const PR_CAPBSET_DROP = 24;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_GET_NO_NEW_PRIVS = 39;
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;
// <linux/capability.h>: version 3 carries 64-bit sets as two 32-bit halves.
export const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

export interface CapSets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

/** The system calls that lock a thread down. Each throws SysError on failure. */
export interface ThreadSecurityCalls {
  /** prctl(PR_CAPBSET_DROP, cap): the capability can never come back, not even through execve of a setuid-root file */
  dropBounding(cap: number): void;
  /** prctl(PR_SET_KEEPCAPS, on): keep the permitted set when the uids change from 0 to non-zero */
  setKeepCaps(on: boolean): void;
  /** prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL) */
  clearAmbient(): void;
  capget(): CapSets;
  capset(sets: CapSets): void;
  /** prctl(PR_SET_NO_NEW_PRIVS, 1) */
  setNoNewPrivs(): void;
  /** seccomp(SECCOMP_SET_MODE_FILTER, 0, &(struct sock_fprog){ len, filter }) */
  installFilter(filter: Buffer): void;
}

/**
 * Put a plan into effect on the calling thread, in the order the kernel requires (runc's):
 *
 * 1. Without no_new_privs, the filter goes in first: installing one needs either
 *    no_new_privs or CAP_SYS_ADMIN, and this is the last moment CAP_SYS_ADMIN is held. The
 *    filter must then allow the calls below (it does: prctl, capset, setresuid...).
 * 2. The bounding set, while CAP_SETPCAP is still effective.
 * 3. For a non-root user, `switchUser` (setgroups, setresgid, setresuid) between
 *    PR_SET_KEEPCAPS on and off. Leaving uid 0 empties the permitted set unless KEEPCAPS is
 *    on, and capset can never raise permitted again; with it, the effective set alone is
 *    emptied, and capset below restores it from permitted.
 * 4. capset: effective, permitted, inheritable. Ambient is cleared, so a non-root user
 *    gets nothing at its execve, and root gets back at most the bounding set.
 * 5. no_new_privs, then the filter: the last step before execve.
 */
export function applySecurity(plan: SecurityPlan, calls: ThreadSecurityCalls, switchUser?: () => void): void {
  if (plan.seccomp && !plan.noNewPrivs) calls.installFilter(plan.seccomp.bytes);
  if (switchUser) calls.setKeepCaps(true);
  for (let cap = 0; cap <= plan.lastCap; cap++) {
    if (((plan.bounding >> BigInt(cap)) & 1n) === 0n) calls.dropBounding(cap);
  }
  if (switchUser) {
    switchUser();
    calls.setKeepCaps(false);
  }
  calls.clearAmbient();
  calls.capset({ effective: plan.effective, permitted: plan.permitted, inheritable: plan.inheritable });
  if (plan.noNewPrivs) calls.setNoNewPrivs();
  if (plan.seccomp && plan.noNewPrivs) calls.installFilter(plan.seccomp.bytes);
}

/** The real calls, through koffi, each recorded in the trace. */
export function realThreadCalls(trace: Trace): ThreadSecurityCalls {
  const k = koffi();
  const lib = k.load('libc.so.6');
  const prctl = lib.func('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)');
  const capget = lib.func('int capget(void *header, void *data)');
  const capset = lib.func('int capset(void *header, void *data)');
  const syscall = lib.func('long syscall(long number, ...)');

  function check(call: string, args: string, rc: number | bigint): void {
    const r = Number(rc);
    const errno = r < 0 ? k.errno() : 0;
    trace.record({ kind: 'syscall', call, args, result: r, ...(r < 0 ? { errno: new SysError(call, args, errno).code } : {}) });
    if (r < 0) throw new SysError(call, args, errno);
  }
  const header = (): Buffer => {
    const h = Buffer.alloc(8); // struct __user_cap_header_struct { u32 version; int pid; }
    h.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0); // pid 0: this thread
    return h;
  };

  return {
    dropBounding(cap) {
      check('prctl', `PR_CAPBSET_DROP, ${capName(cap)}`, prctl(PR_CAPBSET_DROP, cap, 0, 0, 0));
    },
    setKeepCaps(on) {
      check('prctl', `PR_SET_KEEPCAPS, ${on ? 1 : 0}`, prctl(PR_SET_KEEPCAPS, on ? 1 : 0, 0, 0, 0));
    },
    clearAmbient() {
      check('prctl', 'PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL', prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
    },
    capget() {
      const data = Buffer.alloc(24); // struct __user_cap_data_struct[2]: {effective, permitted, inheritable} x (low, high)
      const rc = capget(header(), data);
      if (rc < 0) throw new SysError('capget', 'v3, 0', k.errno());
      const both = (off: number): bigint => BigInt(data.readUInt32LE(off)) | (BigInt(data.readUInt32LE(off + 12)) << 32n);
      return { effective: both(0), permitted: both(4), inheritable: both(8) };
    },
    capset(sets) {
      const data = Buffer.alloc(24);
      const put = (off: number, mask: bigint): void => {
        data.writeUInt32LE(Number(mask & 0xffffffffn), off);
        data.writeUInt32LE(Number(mask >> 32n), off + 12);
      };
      put(0, sets.effective);
      put(4, sets.permitted);
      put(8, sets.inheritable);
      const args = `{E=${capHex(sets.effective)}, P=${capHex(sets.permitted)}, I=${capHex(sets.inheritable)}}`;
      check('capset', args, capset(header(), data));
    },
    setNoNewPrivs() {
      check('prctl', 'PR_SET_NO_NEW_PRIVS, 1', prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    },
    installFilter(filter) {
      // struct sock_fprog { unsigned short len; struct sock_filter *filter; }: 16 bytes on x86_64.
      const fprog = Buffer.alloc(16);
      fprog.writeUInt16LE(filter.length / 8, 0);
      fprog.writeBigUInt64LE(BigInt(k.address(filter)), 8);
      // glibc has no seccomp() wrapper: call it by number.
      const rc = syscall(syscallNumber('seccomp'), 'unsigned int', SECCOMP_SET_MODE_FILTER, 'unsigned int', 0, 'void *', fprog);
      check('seccomp', `SECCOMP_SET_MODE_FILTER, 0, {len=${filter.length / 8}}`, rc);
    },
  };
}

/** What /proc says about a thread's security state (man 5 proc: /proc/pid/status). */
export interface SecurityStatus {
  capInh: bigint;
  capPrm: bigint;
  capEff: bigint;
  capBnd: bigint;
  capAmb: bigint;
  noNewPrivs: boolean;
  /** 0 off, 1 strict, 2 filter */
  seccomp: number;
  seccompFilters: number;
}

/** Parse a status file: /proc/thread-self/status for the calling thread, /proc/PID/status for a process. */
export function parseSecurityStatus(text: string): SecurityStatus {
  const field = (name: string): string => {
    const m = new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(text);
    if (!m) throw new Error(`no ${name} line in the status file`);
    return m[1];
  };
  const optional = (name: string): string | undefined => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(text)?.[1];
  return {
    capInh: BigInt(`0x${field('CapInh')}`),
    capPrm: BigInt(`0x${field('CapPrm')}`),
    capEff: BigInt(`0x${field('CapEff')}`),
    capBnd: BigInt(`0x${field('CapBnd')}`),
    capAmb: BigInt(`0x${field('CapAmb')}`),
    noNewPrivs: field('NoNewPrivs') === '1',
    seccomp: Number(field('Seccomp')),
    seccompFilters: Number(optional('Seccomp_filters') ?? 0),
  };
}

export function readSecurityStatus(path = '/proc/thread-self/status'): SecurityStatus {
  return parseSecurityStatus(fs.readFileSync(path, 'utf8'));
}
