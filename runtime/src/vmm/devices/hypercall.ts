// A paravirtual device: the guest knows it runs on this monitor and, instead of playing a
// UART one byte at a time, asks it in one step to "write this buffer". One exit per buffer
// instead of one per byte: the difference `box vm compare` measures.
//
// The calling convention is KVM's own for hypercalls (Documentation/virt/kvm/x86/hypercalls.rst):
// the call number in the accumulator, arguments in rbx, rcx, rdx, rsi. The trap into the
// monitor is an OUT to port 0x500 (KVM handles the VMCALL instruction itself and never hands
// unknown hypercalls to userspace, so a monitor of its own uses a port).
//
//   HC_WRITE (1): write rcx bytes of guest memory at guest-physical rbx to the console.

import type { DeviceContext, PortDevice } from './bus.ts';

export const HYPERCALL_PORT = 0x500;
export const HC_WRITE = 1;

/** The largest buffer one hypercall may hand over; more is a guest bug, not a console write. */
const MAX_WRITE = 1 << 20;

export class HypercallPort implements PortDevice {
  readonly name = 'hypercall';
  readonly firstPort = HYPERCALL_PORT;
  readonly portCount = 1;
  calls = 0;
  bytes = 0;
  /** The last call that could not be done, for the trace and the summary. */
  lastError: string | undefined;

  register(): string {
    return 'call';
  }

  read(): number {
    return 0xffffffff;
  }

  write(_port: number, _size: number, value: number, ctx: DeviceContext): void {
    this.calls++;
    const nr = value & 0xff;
    if (nr !== HC_WRITE) {
      this.lastError = `unknown hypercall ${nr}`;
      return;
    }
    // The arguments are in the guest's registers: one KVM_GET_REGS, still within this exit.
    const regs = ctx.vcpu.getRegs();
    const addr = Number(regs.rbx);
    const len = Number(regs.rcx);
    const ram = len <= MAX_WRITE ? ctx.vm.ram(addr, len) : undefined;
    if (!ram) {
      this.lastError = `HC_WRITE of ${len} bytes at 0x${addr.toString(16)}: not in guest RAM`;
      return;
    }
    // The buffer is read where it lies: guest memory is mapped into box.
    ctx.console(ram.slice(addr, len));
    this.bytes += len;
  }
}
