// seccomp-bpf: a filter the kernel runs on every system call a process makes, before the call
// does anything. It sees the call's number, the architecture and the six argument registers
// (struct seccomp_data), and answers ALLOW, ERRNO(n) (fail the call with errno n), or KILL.
// Once installed a filter cannot be removed, is inherited by children, and survives execve.
//
// This file compiles Docker's default profile (seccomp_profile.ts) into that filter for a
// given capability set. The program is a linear list of `jeq` tests sorted by number: about
// 80 comparisons in the worst case, a few dozen nanoseconds once the kernel JIT-compiles it.
// A binary search (what libseccomp can emit) would take 7, but a flat list is what a reader
// can follow in the disassembly, and the disassembly is part of the lesson.

import os from 'node:os';
import { assemble, BPF_ABS, BPF_JEQ, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W, disassemble, encode, jeq, jgt, jset, label, ldAbs, ret } from './bpf.ts';
import type { Insn, Line } from './bpf.ts';
import { ARGUMENT_RULES, blockedSyscalls } from './seccomp_profile.ts';
import { DOCKER_DEFAULT_CAPS } from './capabilities.ts';
import { LAST_SYSCALL_X86_64, syscallName, syscallNumber } from './syscalls_x86_64.ts';
import { cloneFlagNames, CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS } from '../sys/constants.ts';
import { errnoName } from '../sys/errors.ts';

// <linux/seccomp.h>
export const SECCOMP_SET_MODE_FILTER = 1;
export const SECCOMP_RET_KILL_PROCESS = 0x80000000; // kill every thread of the process (SIGSYS)
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000; // send SIGSYS, the handler may emulate the call
export const SECCOMP_RET_ERRNO = 0x00050000; // fail the call; the low 16 bits are the errno
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000; // ask a supervisor process
export const SECCOMP_RET_TRACE = 0x7ff00000; // ask a ptrace tracer
export const SECCOMP_RET_LOG = 0x7ffc0000; // allow, and log it
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

// <linux/audit.h>: which calling convention a call came in by. An x86_64 process can also
// make 32-bit calls (int 0x80) that use the i386 numbers, where 11 is execve, not munmap: a
// filter that checked numbers without checking the arch first could be walked around.
export const AUDIT_ARCH_X86_64 = 0xc000003e; // EM_X86_64 (62) | 64-bit | little-endian
export const AUDIT_ARCH_I386 = 0x40000003; // EM_386 (3) | little-endian
// x32 is a third ABI on the same arch value: x86_64 numbers with bit 30 set (<asm/unistd.h>).
export const X32_SYSCALL_BIT = 0x40000000;

/** Byte offsets in struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }. */
export const SECCOMP_DATA_NR = 0;
export const SECCOMP_DATA_ARCH = 4;
/** The low 32 bits of argument i (little-endian: the low half comes first). */
export const seccompArgLow = (i: number): number => 16 + 8 * i;

const EPERM = os.constants.errno.EPERM;
const ENOSYS = os.constants.errno.ENOSYS;
export const errnoAction = (errno: number): number => (SECCOMP_RET_ERRNO | (errno & SECCOMP_RET_DATA)) >>> 0;

/**
 * The namespace flags Docker's profile refuses in clone()'s flags: NEWNS, NEWCGROUP, NEWUTS,
 * NEWIPC, NEWUSER, NEWPID, NEWNET (0x7e020000). CLONE_NEWTIME (0x80) is not among them
 * because clone() cannot take it: its low byte is the exit signal. Only unshare and clone3
 * create time namespaces.
 */
export const CLONE_NAMESPACE_FLAGS =
  (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET) >>> 0;

// <linux/socket.h>
const AF_ALG = 38; // the kernel's crypto API as sockets; blocked in 2026 for CVE-2026-31431 ("Copy Fail")
const AF_VSOCK = 40; // sockets to the hypervisor and to other VMs on the host

// <linux/personality.h>: the execution domains Docker's profile lets a program pick.
const PERSONALITIES_ALLOWED: Record<number, string> = {
  0x0: 'PER_LINUX',
  0x8: 'PER_LINUX32',
  0x20000: 'UNAME26',
  0x20008: 'PER_LINUX32|UNAME26',
  0xffffffff: 'query the current personality',
};

// The instructions the annotator recognizes.
const LD_ABS = BPF_LD | BPF_W | BPF_ABS;
const JEQ_K = BPF_JMP | BPF_JEQ | BPF_K;
const JGT_K = BPF_JMP | BPF_JGT | BPF_K;
const JSET_K = BPF_JMP | BPF_JSET | BPF_K;

export interface SeccompProgram {
  /** struct sock_filter[] as the kernel takes it, for seccomp(SECCOMP_SET_MODE_FILTER, ...) */
  bytes: Buffer;
  insns: Insn[];
  /** system calls refused whatever their arguments, sorted by number */
  blocked: string[];
  /** calls refused only for some arguments, in words */
  argumentRules: string[];
  /** the disassembly, with each line explained */
  text: string[];
}

/**
 * Docker's default filter for a container holding `caps` (CAP_ names, as resolveCaps returns).
 * Adding a capability gives back the calls it guards, as in Docker: --cap-add SYS_ADMIN
 * allows mount, unshare, setns and clone with namespace flags.
 */
export function defaultSeccompProgram(caps: string[]): SeccompProgram {
  const sysAdmin = caps.includes('CAP_SYS_ADMIN');
  const blocked = blockedSyscalls(caps).sort((a, b) => syscallNumber(a) - syscallNumber(b));

  // One `jeq nr` test a rule, sorted by number; each jumps to the return it needs.
  const tests: { nr: number; to: string }[] = blocked.map((name) => ({ nr: syscallNumber(name), to: 'eperm' }));
  tests.push({ nr: syscallNumber('socket'), to: 'socket' }, { nr: syscallNumber('personality'), to: 'personality' });
  if (!sysAdmin) tests.push({ nr: syscallNumber('clone'), to: 'clone' }, { nr: syscallNumber('clone3'), to: 'enosys' });
  tests.sort((a, b) => a.nr - b.nr);

  const lines: Line[] = [
    // 1. The architecture, before anything else (see AUDIT_ARCH_* above).
    ldAbs(SECCOMP_DATA_ARCH),
    jeq(AUDIT_ARCH_X86_64, 'x86_64'),
    ret(SECCOMP_RET_KILL_PROCESS),
    label('x86_64'),
    // 2. The number: x32 calls are refused as a whole, numbers newer than our table get ENOSYS
    //    (as runc does: libc then falls back to an older call, as on an older kernel).
    ldAbs(SECCOMP_DATA_NR),
    jset(X32_SYSCALL_BIT, 'eperm'),
    jgt(LAST_SYSCALL_X86_64, 'enosys'),
    // 3. The rules, one test a system call.
    ...tests.map((t) => jeq(t.nr, t.to)),
    ret(SECCOMP_RET_ALLOW),

    // socket(family, ...): the family is an int, so the low 32 bits are all the kernel reads.
    label('socket'),
    ldAbs(seccompArgLow(0)),
    jeq(AF_ALG, 'eperm'),
    jeq(AF_VSOCK, 'eperm'),
    ret(SECCOMP_RET_ALLOW),

    // personality(persona): an unsigned int; only the domains listed above.
    label('personality'),
    ldAbs(seccompArgLow(0)),
    ...Object.keys(PERSONALITIES_ALLOWED).map((p) => jeq(Number(p), 'allow')),
    ret(errnoAction(EPERM)),

    // clone(flags, ...): the namespace flags all live in the low 32 bits.
    ...(sysAdmin ? [] : [label('clone'), ldAbs(seccompArgLow(0)), jset(CLONE_NAMESPACE_FLAGS, 'eperm'), ret(SECCOMP_RET_ALLOW)]),

    label('allow'),
    ret(SECCOMP_RET_ALLOW),
    label('eperm'),
    ret(errnoAction(EPERM)),
    label('enosys'),
    ret(errnoAction(ENOSYS)),
  ];

  const insns = assemble(lines);
  const argumentRules = Object.entries(ARGUMENT_RULES)
    .filter(([name]) => !(sysAdmin && (name === 'clone' || name === 'clone3')))
    .map(([name, rule]) => `${name}: ${rule}`);
  // The listing is for readers (lessons, tests); box run does not need it, so make it on demand.
  let text: string[] | undefined;
  return {
    bytes: encode(insns), insns, blocked, argumentRules,
    get text() { return (text ??= disassemble(insns, seccompAnnotator(insns))); },
  };
}

/** `--security-opt seccomp=unconfined`: no filter at all. */
export function seccompUnconfined(): null {
  return null;
}

/** The blocked list of a container with Docker's default capabilities. */
export const DOCKER_BLOCKED_SYSCALLS: string[] = blockedSyscalls(DOCKER_DEFAULT_CAPS).sort((a, b) => syscallNumber(a) - syscallNumber(b));

/** A filter's return value in words: "ALLOW", "ERRNO(EPERM)", "KILL_PROCESS". */
export function describeAction(value: number): string {
  const action = (value & SECCOMP_RET_ACTION_FULL) >>> 0;
  const data = value & SECCOMP_RET_DATA;
  switch (action) {
    case SECCOMP_RET_ALLOW: return 'ALLOW';
    case SECCOMP_RET_ERRNO: return `ERRNO(${errnoName(data)})`;
    case SECCOMP_RET_KILL_PROCESS: return 'KILL_PROCESS';
    case SECCOMP_RET_KILL_THREAD: return 'KILL_THREAD';
    case SECCOMP_RET_TRAP: return `TRAP(${data})`;
    case SECCOMP_RET_USER_NOTIF: return 'USER_NOTIF';
    case SECCOMP_RET_TRACE: return `TRACE(${data})`;
    case SECCOMP_RET_LOG: return 'LOG';
    default: return `0x${(value >>> 0).toString(16)}`;
  }
}

/**
 * Comments for the disassembly, worked out from the instructions themselves: which field a
 * load reads, which system call a `jeq` after `ld [0]` tests, what a `ret` does. It follows
 * the program in order, which is exact for programs like ours where each block begins with
 * its own load.
 */
export function seccompAnnotator(insns: Insn[]): (insn: Insn, pc: number) => string | undefined {
  // First pass: where each syscall's block begins (the target of its `jeq nr`).
  const blockOf = new Map<number, string>();
  let loaded = '';
  insns.forEach((insn, pc) => {
    if (insn.code === LD_ABS) loaded = insn.k === SECCOMP_DATA_NR ? 'nr' : '';
    if (loaded === 'nr' && insn.code === JEQ_K) {
      const name = syscallName(insn.k);
      if (name && !blockOf.has(pc + 1 + insn.jt)) blockOf.set(pc + 1 + insn.jt, name);
    }
  });

  let field = '';
  let syscall = '';
  return (insn, pc) => {
    const { code, k } = insn;
    if (code === LD_ABS) {
      syscall = blockOf.get(pc) ?? syscall;
      if (k === SECCOMP_DATA_NR) field = 'nr';
      else if (k === SECCOMP_DATA_ARCH) field = 'arch';
      else if (k >= 16 && k < 64) field = `args[${Math.floor((k - 16) / 8)}]${k % 8 === 0 ? '' : '.hi'}`;
      else field = `[${k}]`;
      if (field.startsWith('args') && syscall) return `A = ${syscall}() ${field} (low 32 bits)`;
      return `A = ${field === 'nr' ? 'system call number' : field}`;
    }
    if ((code & 0x07) === BPF_RET) return describeAction(k);
    if (code === JEQ_K || code === JGT_K || code === JSET_K) {
      if (field === 'arch') return k === AUDIT_ARCH_X86_64 ? 'AUDIT_ARCH_X86_64?' : undefined;
      if (field === 'nr') {
        if (code === JSET_K && k === X32_SYSCALL_BIT) return 'x32 ABI?';
        if (code === JGT_K) return `newer than ${syscallName(k) ?? k}?`;
        return syscallName(k);
      }
      if (field === 'args[0]' && syscall === 'socket') return k === AF_ALG ? 'AF_ALG?' : k === AF_VSOCK ? 'AF_VSOCK?' : undefined;
      if (field === 'args[0]' && syscall === 'personality') return `${PERSONALITIES_ALLOWED[k] ?? k}?`;
      if (field === 'args[0]' && syscall === 'clone' && code === JSET_K) return `any of ${cloneFlagNames(k)}?`;
    }
    return undefined;
  };
}
