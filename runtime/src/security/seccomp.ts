// seccomp-bpf: a filter the kernel runs on every system call a process makes, before the call
// does anything. It sees the call's number, the architecture and the six argument registers
// (struct seccomp_data), and answers ALLOW, ERRNO(n) (fail the call with errno n), or KILL.
// Once installed a filter cannot be removed, is inherited by children, and survives execve.
//
// This file compiles a profile in Docker's JSON shape (the default in seccomp_profile.ts, or a
// user's file) into that filter for a given capability set. The program is a linear list of
// tests sorted by number, neighbouring allowed calls merged into ranges: a few dozen
// comparisons in the worst case, nanoseconds once the kernel JIT-compiles it. A binary search
// (what libseccomp can emit) would take fewer, but a flat list is what a reader can follow in
// the disassembly, and the disassembly is part of the lesson.

import os from 'node:os';
import { alu, ALU_OPS, assemble, BPF_ABS, BPF_ALU, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W, disassemble, encode, jeq, jge, jgt, jset, label, ldAbs, ret } from './bpf.ts';
import type { Insn, Line } from './bpf.ts';
import { ARGUMENT_RULES, DEFAULT_PROFILE } from './seccomp_profile.ts';
import type { SeccompArg, SeccompProfile, SeccompRule } from './seccomp_profile.ts';
import { DOCKER_DEFAULT_CAPS } from './capabilities.ts';
import { LAST_SYSCALL_X86_64, SYSCALLS_X86_64, syscallName, syscallNumber } from './syscalls_x86_64.ts';
import { cloneFlagNames, CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS } from '../sys/constants.ts';
import { errnoName, UserError } from '../sys/errors.ts';

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
const JGE_K = BPF_JMP | BPF_JGE | BPF_K;

export interface SeccompProgram {
  /** struct sock_filter[] as the kernel takes it, for seccomp(SECCOMP_SET_MODE_FILTER, ...) */
  bytes: Buffer;
  insns: Insn[];
  /** system calls allowed whatever their arguments, sorted by number */
  allowed: string[];
  /** system calls of the x86_64 table refused whatever their arguments, sorted by number */
  blocked: string[];
  /** what a call no rule names gets, in words: "ERRNO(EPERM)" */
  defaultAction: string;
  /** calls refused only for some arguments, in words */
  argumentRules: string[];
  /** the disassembly, with each line explained */
  text: string[];
  /** what the filter does in a few words, where "N calls allowed, X for the rest" would mislead */
  summary?: string;
}

/**
 * Docker's default filter for a container holding `caps` (CAP_ names, as resolveCaps returns).
 * Adding a capability gives back the calls it guards, as in Docker: --cap-add SYS_ADMIN
 * allows mount, unshare, setns and clone with namespace flags.
 */
export function defaultSeccompProgram(caps: string[]): SeccompProgram {
  return compileProfile(DEFAULT_PROFILE, caps);
}

// What a profile's action names mean (libseccomp's SCMP_ACT_*, as runc reads them).
function actionValue(action: string, errnoRet: number | undefined, where: string): number {
  switch (action) {
    case 'SCMP_ACT_ALLOW': return SECCOMP_RET_ALLOW;
    case 'SCMP_ACT_ERRNO': return errnoAction(errnoRet ?? EPERM);
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD': return SECCOMP_RET_KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS': return SECCOMP_RET_KILL_PROCESS;
    case 'SCMP_ACT_TRAP': return SECCOMP_RET_TRAP;
    case 'SCMP_ACT_LOG': return SECCOMP_RET_LOG;
    default:
      throw new UserError(`seccomp profile: ${where} has action '${action}'; box knows SCMP_ACT_ALLOW, _ERRNO, _KILL, _KILL_THREAD, _KILL_PROCESS, _TRAP and _LOG`);
  }
}

/** Does a rule apply to this container? includes: all its caps held; excludes: none of them. */
function ruleApplies(rule: SeccompRule, held: Set<string>): boolean {
  const arch = (a: string) => a === 'amd64' || a === 'x86_64' || a === 'SCMP_ARCH_X86_64';
  const inc = rule.includes ?? {};
  const exc = rule.excludes ?? {};
  if (inc.caps?.some((c) => !held.has(c))) return false;
  if (inc.arches?.length && !inc.arches.some(arch)) return false;
  if (inc.minKernel && !kernelAtLeast(inc.minKernel)) return false;
  if (exc.caps?.some((c) => held.has(c))) return false;
  if (exc.arches?.some(arch)) return false;
  return true;
}

function kernelAtLeast(version: string): boolean {
  const [a, b] = version.split('.').map(Number);
  const [x, y] = os.release().split('.').map((n) => parseInt(n, 10));
  return x > a || (x === a && y >= (b || 0));
}

const hi = (v: bigint) => Number((v >> 32n) & 0xffffffffn);
const lo = (v: bigint) => Number(v & 0xffffffffn);

/**
 * One argument test, on all 64 bits as libseccomp compares them: the high half, then the low
 * half (seccomp_data holds each argument as two 32-bit words). Falls through when the test
 * holds, jumps to `fail` when not.
 */
function argTest(arg: SeccompArg, fail: string, id: string): Line[] {
  const v = BigInt(arg.value);
  const hiAt = seccompArgLow(arg.index) + 4;
  const loAt = seccompArgLow(arg.index);
  const pass = `${id}_pass`;
  switch (arg.op) {
    case 'SCMP_CMP_EQ':
      return [ldAbs(hiAt), jeq(hi(v), undefined, fail), ldAbs(loAt), jeq(lo(v), undefined, fail)];
    case 'SCMP_CMP_NE':
      return [ldAbs(hiAt), jeq(hi(v), undefined, pass), ldAbs(loAt), jeq(lo(v), fail), label(pass)];
    case 'SCMP_CMP_MASKED_EQ': {
      const want = BigInt(arg.valueTwo ?? 0);
      // A mask with nothing in the high half (clone's namespace flags) needs only the low one.
      if (hi(v) === 0 && hi(want) === 0) return [ldAbs(loAt), alu('and', lo(v)), jeq(lo(want), undefined, fail)];
      return [ldAbs(hiAt), alu('and', hi(v)), jeq(hi(want), undefined, fail), ldAbs(loAt), alu('and', lo(v)), jeq(lo(want), undefined, fail)];
    }
    case 'SCMP_CMP_GT':
    case 'SCMP_CMP_GE': {
      const last = arg.op === 'SCMP_CMP_GT' ? jgt(lo(v), undefined, fail) : jge(lo(v), undefined, fail);
      return [ldAbs(hiAt), jgt(hi(v), pass), jeq(hi(v), undefined, fail), ldAbs(loAt), last, label(pass)];
    }
    case 'SCMP_CMP_LT':
    case 'SCMP_CMP_LE': {
      const last = arg.op === 'SCMP_CMP_LE' ? jgt(lo(v), fail) : jge(lo(v), fail);
      return [ldAbs(hiAt), jgt(hi(v), fail), jeq(hi(v), undefined, pass), ldAbs(loAt), last, label(pass)];
    }
    default:
      throw new UserError(`seccomp profile: unknown op '${arg.op}'; box knows SCMP_CMP_EQ, _NE, _LT, _LE, _GT, _GE and _MASKED_EQ`);
  }
}

/**
 * Compile a profile in Docker's JSON shape (DEFAULT_PROFILE, or a file given with
 * --security-opt seccomp=FILE) into the filter for a container holding `caps`.
 *
 * Layout, top to bottom: the architecture; x32 and numbers newer than the table; then one
 * test a system call with rules, sorted by number. A run of neighbouring calls with the same
 * unconditional action is one range test (`jge first`, `jgt last`), so the ~300 allowed calls
 * take a few dozen tests; a call with argument rules gets its block right below its `jeq`
 * (classic BPF jumps at most 255 instructions). Anything no rule names gets the default action.
 */
export function compileProfile(profile: SeccompProfile, caps: string[]): SeccompProgram {
  const held = new Set(caps);
  const fallback = actionValue(profile.defaultAction, profile.defaultErrnoRet, 'defaultAction');
  // Each call's rules in file order; the first whose arguments match decides.
  const rulesOf = new Map<number, { action: number; args: SeccompArg[] }[]>();
  profile.syscalls.forEach((rule, i) => {
    if (!ruleApplies(rule, held)) return;
    const action = actionValue(rule.action, rule.errnoRet ?? (rule.action === 'SCMP_ACT_ERRNO' ? profile.defaultErrnoRet : undefined), `syscalls[${i}]`);
    for (const name of rule.names) {
      const nr = SYSCALLS_X86_64[name];
      if (nr === undefined) continue; // as runc does: a name this table does not know is skipped
      const list = rulesOf.get(nr) ?? [];
      list.push({ action, args: rule.args ?? [] });
      rulesOf.set(nr, list);
    }
  });

  const tests: Line[] = [];
  const numbers = [...rulesOf.keys()].sort((a, b) => a - b);
  const plain = (nr: number): number | undefined => {
    const rules = rulesOf.get(nr)!;
    return rules[0].args.length === 0 ? rules[0].action : undefined; // an unconditional first rule always decides
  };
  for (let i = 0; i < numbers.length; i++) {
    const nr = numbers[i];
    const next = `after_${nr}`;
    const action = plain(nr);
    if (action !== undefined) {
      let j = i;
      while (j + 1 < numbers.length && numbers[j + 1] === numbers[j] + 1 && plain(numbers[j + 1]) === action) j++;
      const last = numbers[j];
      if (last === nr) tests.push(jeq(nr, undefined, next), ret(action));
      else tests.push(jge(nr, undefined, next), jgt(last, next), ret(action));
      tests.push(label(next));
      i = j;
      continue;
    }
    tests.push(jeq(nr, undefined, next));
    rulesOf.get(nr)!.forEach((rule, r) => {
      const fail = `r${nr}_${r}_fail`;
      rule.args.forEach((arg, a) => tests.push(...argTest(arg, fail, `r${nr}_${r}_${a}`)));
      tests.push(ret(rule.action), label(fail));
    });
    tests.push(ret(fallback), label(next));
  }

  const lines: Line[] = [
    // 1. The architecture, before anything else (see AUDIT_ARCH_* above).
    ldAbs(SECCOMP_DATA_ARCH),
    jeq(AUDIT_ARCH_X86_64, 'x86_64'),
    ret(SECCOMP_RET_KILL_PROCESS),
    label('x86_64'),
    // 2. The number: x32 calls get the default action as a whole; numbers newer than our
    //    table get ENOSYS (as runc does: libc then falls back to an older call, as on an
    //    older kernel).
    ldAbs(SECCOMP_DATA_NR),
    jset(X32_SYSCALL_BIT, undefined, 'native'),
    ret(fallback),
    label('native'),
    jgt(LAST_SYSCALL_X86_64, undefined, 'known'),
    ret(errnoAction(ENOSYS)),
    label('known'),
    // 3. The rules.
    ...tests,
    ret(fallback),
  ];

  const insns = assemble(lines);
  const allowed = numbers.filter((nr) => plain(nr) === SECCOMP_RET_ALLOW).map((nr) => syscallName(nr)!);
  const conditional = numbers.filter((nr) => plain(nr) !== SECCOMP_RET_ALLOW && plain(nr) !== fallback).map((nr) => syscallName(nr)!);
  // Refused whatever the arguments, with the default action: named by no rule (or by one
  // that does what the default does).
  const blocked = Object.entries(SYSCALLS_X86_64)
    .filter(([, nr]) => fallback !== SECCOMP_RET_ALLOW && (!rulesOf.has(nr) || plain(nr) === fallback))
    .sort((a, b) => a[1] - b[1])
    .map(([name]) => name);
  const argumentRules = conditional.map((name) => `${name}: ${ARGUMENT_RULES[name] ?? 'allowed for some arguments only'}`);
  // The listing is for readers (lessons, tests); box run does not need it, so make it on demand.
  let text: string[] | undefined;
  return {
    bytes: encode(insns), insns, allowed, blocked, argumentRules, defaultAction: describeAction(fallback),
    get text() { return (text ??= disassemble(insns, seccompAnnotator(insns))); },
  };
}

/** `--security-opt seccomp=unconfined`: no filter at all. */
export function seccompUnconfined(): null {
  return null;
}

/** The blocked list of a container with Docker's default capabilities. */
export const DOCKER_BLOCKED_SYSCALLS: string[] = defaultSeccompProgram(DOCKER_DEFAULT_CAPS).blocked;

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
    if (pc > 0 && (insns[pc - 1].code & 0x07) === BPF_RET && (insn.code & 0x07) === BPF_JMP) loaded = 'nr';
    if (loaded === 'nr' && insn.code === JEQ_K) {
      const name = syscallName(insn.k);
      if (name && !blockOf.has(pc + 1 + insn.jt)) blockOf.set(pc + 1 + insn.jt, name);
    }
  });

  let field = '';
  let syscall = '';
  return (insn, pc) => {
    const { code, k } = insn;
    // In compileProfile's layout a test right after a `ret` is reached by a jump whose A is
    // still the system call number.
    if (pc > 0 && (insns[pc - 1].code & 0x07) === BPF_RET && (code & 0x07) === BPF_JMP) field = 'nr';
    if (code === LD_ABS) {
      syscall = blockOf.get(pc) ?? syscall;
      if (k === SECCOMP_DATA_NR) field = 'nr';
      else if (k === SECCOMP_DATA_ARCH) field = 'arch';
      else if (k >= 16 && k < 64) field = `args[${Math.floor((k - 16) / 8)}]${k % 8 === 0 ? '' : '.hi'}`;
      else field = `[${k}]`;
      if (field.endsWith('.hi') && syscall) return `A = ${syscall}() ${field.slice(0, -3)} (high 32 bits)`;
      if (field.startsWith('args') && syscall) return `A = ${syscall}() ${field} (low 32 bits)`;
      return `A = ${field === 'nr' ? 'system call number' : field}`;
    }
    if ((code & 0x07) === BPF_RET) return describeAction(k);
    if (code === (BPF_ALU | ALU_OPS.and | BPF_K) && syscall === 'clone' && field === 'args[0]') return `A &= ${cloneFlagNames(k)}`;
    if (code === JEQ_K || code === JGT_K || code === JGE_K || code === JSET_K) {
      if (field === 'arch') return k === AUDIT_ARCH_X86_64 ? 'AUDIT_ARCH_X86_64?' : undefined;
      if (field === 'nr') {
        if (code === JSET_K && k === X32_SYSCALL_BIT) return 'x32 ABI?';
        if (code === JGT_K && k === LAST_SYSCALL_X86_64) return `newer than ${syscallName(k) ?? k}?`;
        if (code === JGT_K) return `past ${syscallName(k) ?? k}?`;
        if (code === JGE_K) return `from ${syscallName(k) ?? k} on?`;
        return syscallName(k);
      }
      if (field === 'args[0]' && syscall === 'socket') return k === AF_ALG ? 'AF_ALG?' : k === AF_VSOCK ? 'AF_VSOCK?' : undefined;
      if (field === 'args[0]' && syscall === 'personality') return `${PERSONALITIES_ALLOWED[k] ?? k}?`;
      if (field === 'args[0]' && syscall === 'clone' && code === JSET_K) return `any of ${cloneFlagNames(k)}?`;
    }
    return undefined;
  };
}
