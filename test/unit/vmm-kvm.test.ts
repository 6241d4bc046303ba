// The parts of the KVM layer that are plain logic: ioctl numbers, register structures, and
// the sentences for each way KVM can be unavailable. The real ioctls are exercised on
// /dev/kvm by test/integration/vmm-guests.test.ts.

import { describe, expect, it } from 'vitest';
import { KVM, SIZEOF } from '../../runtime/src/vmm/kvm-abi.ts';
import { apiMismatchMessage, notKvmMessage, openFailureMessage } from '../../runtime/src/vmm/kvm-errors.ts';
import { cpuMode, decodeRegs, decodeSregs, encodeRegs, encodeSregs, formatRegisters } from '../../runtime/src/vmm/regs.ts';

describe('ioctl numbers', () => {
  it('match <linux/kvm.h> (as strace prints them)', () => {
    expect(KVM.GET_API_VERSION).toBe(0xae00);
    expect(KVM.CREATE_VM).toBe(0xae01);
    expect(KVM.RUN).toBe(0xae80);
    expect(KVM.SET_USER_MEMORY_REGION).toBe(0x4020ae46);
    expect(KVM.GET_REGS).toBe(0x8090ae81);
    expect(KVM.SET_SREGS).toBe(0x4138ae84);
    expect(KVM.GET_SUPPORTED_CPUID).toBe(0xc008ae05);
    expect(KVM.SET_CPUID2).toBe(0x4008ae90);
    expect(KVM.SET_SIGNAL_MASK).toBe(0x4004ae8b);
    expect(KVM.ENABLE_CAP).toBe(0x4068aea3);
  });
});

describe('register structures', () => {
  it('kvm_regs round-trips, rip and rflags last', () => {
    const buf = Buffer.alloc(SIZEOF.kvm_regs);
    buf.writeBigUInt64LE(0x7c00n, 16 * 8);
    buf.writeBigUInt64LE(2n, 17 * 8);
    buf.writeBigUInt64LE(0xdeadn, 0);
    const r = decodeRegs(buf);
    expect(r.rip).toBe(0x7c00n);
    expect(r.rflags).toBe(2n);
    expect(r.rax).toBe(0xdeadn);
    expect(encodeRegs(r)).toEqual(buf);
  });

  it('kvm_sregs round-trips, and says which mode the CPU is in', () => {
    const buf = Buffer.alloc(SIZEOF.kvm_sregs);
    for (let i = 0; i < buf.length; i++) buf[i] = (i * 7) & 0xff;
    const s = decodeSregs(buf);
    expect(encodeSregs(s)).toEqual(buf);
    s.cr0 = 0x10n;
    expect(cpuMode(s)).toBe('real mode');
    s.cr0 = 0x80000011n;
    s.efer = 0x500n; // LME | LMA
    s.cs.l = 1;
    expect(cpuMode(s)).toBe('64-bit long mode');
    s.cs.base = 0x1234n;
    s.cs.selector = 8;
    const again = decodeSregs(encodeSregs(s));
    expect(again.cs.base).toBe(0x1234n);
    expect(again.cs.selector).toBe(8);
    expect(formatRegisters(decodeRegs(Buffer.alloc(SIZEOF.kvm_regs)), again)).toContain('64-bit long mode');
  });
});

describe('why KVM cannot be used', () => {
  const noHw = { cpuFlags: ['fpu', 'sse2'] };
  it('a path the user named that does not exist', () => {
    expect(openFailureMessage('/nonexistent', 'ENOENT', noHw)).toBe('/nonexistent does not exist: --kvm names the KVM device (the default is /dev/kvm)');
  });
  it('no /dev/kvm inside a VM without nested virtualization', () => {
    expect(openFailureMessage('/dev/kvm', 'ENOENT', { cpuFlags: ['hypervisor', 'sse2'] })).toMatch(/nested virtualization is off; turn it on in the outer hypervisor/);
  });
  it('no /dev/kvm on a CPU without VT-x/AMD-V showing', () => {
    expect(openFailureMessage('/dev/kvm', 'ENOENT', noHw)).toMatch(/enable Intel VT-x or AMD-V in the firmware/);
  });
  it('no /dev/kvm although the CPU has vmx: the module is not loaded', () => {
    expect(openFailureMessage('/dev/kvm', 'ENOENT', { cpuFlags: ['vmx'] })).toMatch(/modprobe kvm_intel/);
  });
  it('permission denied names the group to join', () => {
    expect(openFailureMessage('/dev/kvm', 'EACCES', { cpuFlags: [], deviceOwner: "mode 660, owner uid 0, group 'kvm'" }))
      .toBe("permission denied opening /dev/kvm (mode 660, owner uid 0, group 'kvm'): add your user to that group (sudo usermod -aG kvm $USER, then log in again) or run box as root");
  });
  it('not a KVM device, and a KVM of another API version', () => {
    expect(notKvmMessage('/dev/null', 'ENOTTY')).toMatch(/^\/dev\/null is not a KVM device/);
    expect(apiMismatchMessage('/dev/kvm', 11)).toMatch(/API version 11, box speaks version 12/);
  });
  it('every message is one line', () => {
    for (const code of ['ENOENT', 'EACCES', 'ENXIO', 'EIO']) {
      expect(openFailureMessage('/dev/kvm', code, { cpuFlags: ['hypervisor'] })).not.toContain('\n');
    }
  });
});
