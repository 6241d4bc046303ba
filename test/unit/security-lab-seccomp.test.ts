// The lab sandbox's seccomp filter, run through the BPF interpreter: it refuses exactly the
// loop ioctls that would detach or re-point the sandbox's loop device, in every ABI, whatever
// the upper 32 bits of the request register hold. test/integration/lab-attacks.test.ts
// makes the same calls on the real kernel, inside a real sandbox.

import { describe, expect, it } from 'vitest';
import { runFilter } from '../../runtime/src/security/bpf_run.ts';
import { AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, describeAction } from '../../runtime/src/security/seccomp.ts';
import { LOOP_IOCTLS_REFUSED, labSeccompProgram } from '../../runtime/src/security/lab-seccomp.ts';
import { securityPlan } from '../../runtime/src/security/plan.ts';
import { SYSCALLS_X86_64 } from '../../runtime/src/security/syscalls_x86_64.ts';

const program = labSeccompProgram().bytes;
const verdict = (nr: number, args: (number | bigint)[] = [], arch = AUDIT_ARCH_X86_64) => describeAction(runFilter(program, { nr, arch, args }));

const LOOP_CLR_FD = 0x4c01;
const LOOP_GET_STATUS64 = 0x4c05;
const TCGETS = 0x5401;
const KVM_GET_API_VERSION = 0xae00;

describe('the lab seccomp filter', () => {
  it('refuses every loop request that attaches, detaches or re-points a device', () => {
    for (const cmd of Object.keys(LOOP_IOCTLS_REFUSED).map(Number)) {
      expect(verdict(16, [3, cmd, 0]), LOOP_IOCTLS_REFUSED[cmd]).toBe('ERRNO(EPERM)');
    }
  });

  it('compares only the low 32 bits of the request, as the kernel reads it', () => {
    expect(verdict(16, [3, 0x1_0000_4c01n, 0])).toBe('ERRNO(EPERM)');
    expect(verdict(16, [3, 0xffffffff_00004c00n, 0])).toBe('ERRNO(EPERM)');
  });

  it('refuses them through the i386 and x32 entry points too', () => {
    expect(verdict(54, [3, LOOP_CLR_FD, 0], AUDIT_ARCH_I386)).toBe('ERRNO(EPERM)');
    expect(verdict((X32_SYSCALL_BIT | 514) >>> 0, [3, LOOP_CLR_FD, 0])).toBe('ERRNO(EPERM)');
    expect(verdict((X32_SYSCALL_BIT | 16) >>> 0, [3, LOOP_CLR_FD, 0])).toBe('ERRNO(EPERM)');
    expect(verdict(54, [3, TCGETS, 0], AUDIT_ARCH_I386)).toBe('ALLOW');
  });

  it('allows the reads, every other ioctl and every other system call', () => {
    expect(verdict(16, [3, LOOP_GET_STATUS64, 0])).toBe('ALLOW');
    expect(verdict(16, [3, TCGETS, 0])).toBe('ALLOW');
    expect(verdict(16, [3, KVM_GET_API_VERSION, 0])).toBe('ALLOW');
    for (const nr of Object.values(SYSCALLS_X86_64)) {
      if (nr !== 16) expect(verdict(nr, [3, LOOP_CLR_FD, 0]), String(nr)).toBe('ALLOW');
    }
  });

  it('is what a lab sandbox gets, though it is privileged inside its user namespace', () => {
    const plan = securityPlan({ privileged: true, seccomp: 'lab' });
    expect(plan.seccomp?.bytes.equals(program)).toBe(true);
    expect(securityPlan({ privileged: true }).seccomp).toBeNull();
  });
});
