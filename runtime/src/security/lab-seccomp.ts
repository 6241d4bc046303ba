// The lab sandbox's seccomp filter. A lab sandbox is "privileged" inside its user namespace
// (every capability there, no Docker filter), so lessons may mount, unshare and nest box. One
// thing must still be refused: re-pointing its loop device. The loop ioctls (LOOP_SET_FD,
// LOOP_CLR_FD, LOOP_CONFIGURE, LOOP_CHANGE_FD, LOOP_SET_STATUS*) check no capability, only
// that the device is open for writing, so without this filter `losetup -d /dev/loopN` inside
// frees the device while the sandbox keeps its node and its device rule for 7:N: the next
// `losetup --find` on the host (another sandbox's disk, a root-only file) would be readable
// and writable from here. Everything else is allowed.
//
// Installed last before the sandbox's first program (and every `box exec` into it), it is
// inherited by everything the sandbox runs and cannot be removed.

import os from 'node:os';
import { assemble, encode, disassemble, jeq, label, ldAbs, ret } from './bpf.ts';
import {
  AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, SECCOMP_DATA_ARCH, SECCOMP_DATA_NR, SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS,
  X32_SYSCALL_BIT, errnoAction, seccompAnnotator, seccompArgLow, type SeccompProgram,
} from './seccomp.ts';

// <linux/loop.h>: the requests that attach, detach or re-point a loop device. The reads
// (LOOP_GET_STATUS*, for losetup -l and lsblk) and the tuning ones (LOOP_SET_CAPACITY,
// LOOP_SET_DIRECT_IO, LOOP_SET_BLOCK_SIZE, which the disk lesson may use) stay allowed.
export const LOOP_IOCTLS_REFUSED: Record<number, string> = {
  0x4c00: 'LOOP_SET_FD',
  0x4c01: 'LOOP_CLR_FD',
  0x4c02: 'LOOP_SET_STATUS',
  0x4c04: 'LOOP_SET_STATUS64',
  0x4c06: 'LOOP_CHANGE_FD',
  0x4c0a: 'LOOP_CONFIGURE',
  0x4c80: 'LOOP_CTL_ADD',
  0x4c81: 'LOOP_CTL_REMOVE',
  0x4c82: 'LOOP_CTL_GET_FREE',
};

// ioctl's number in each calling convention an x86_64 process can use: x86_64 itself, x32
// (x86_64 numbers with bit 30 set; 514 is its compat ioctl), and i386 (int 0x80).
const IOCTL_X86_64 = 16;
const IOCTL_X32 = (X32_SYSCALL_BIT | 514) >>> 0;
const IOCTL_I386 = 54;

const EPERM = os.constants.errno.EPERM;

export function labSeccompProgram(): SeccompProgram {
  const insns = assemble([
    ldAbs(SECCOMP_DATA_ARCH),
    jeq(AUDIT_ARCH_X86_64, 'x86_64'),
    jeq(AUDIT_ARCH_I386, 'i386'),
    ret(SECCOMP_RET_KILL_PROCESS), // no other ABI exists on x86_64
    label('x86_64'),
    ldAbs(SECCOMP_DATA_NR),
    jeq(IOCTL_X86_64, 'ioctl'),
    jeq((X32_SYSCALL_BIT | IOCTL_X86_64) >>> 0, 'ioctl'),
    jeq(IOCTL_X32, 'ioctl'),
    ret(SECCOMP_RET_ALLOW),
    label('i386'),
    ldAbs(SECCOMP_DATA_NR),
    jeq(IOCTL_I386, 'ioctl'),
    ret(SECCOMP_RET_ALLOW),
    // ioctl(fd, request, arg): request is an unsigned int, and the kernel drops the upper 32
    // bits of the register. So compare only the low word: a filter comparing all 64 bits
    // would let 0x1_00004c01 through, which the kernel runs as LOOP_CLR_FD.
    label('ioctl'),
    ldAbs(seccompArgLow(1)),
    ...Object.keys(LOOP_IOCTLS_REFUSED).map((k) => jeq(Number(k), 'eperm')),
    ret(SECCOMP_RET_ALLOW),
    label('eperm'),
    ret(errnoAction(EPERM)),
  ]);
  let text: string[] | undefined;
  return {
    bytes: encode(insns),
    insns,
    blocked: [],
    argumentRules: [`ioctl: EPERM for ${Object.values(LOOP_IOCTLS_REFUSED).join(', ')} (a lab sandbox may not re-point its loop device)`],
    get text() { return (text ??= disassemble(insns, seccompAnnotator(insns))); },
  };
}
