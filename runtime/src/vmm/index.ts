// box's virtual machine monitor: run a lesson guest on KVM and report what happened.
//
//   asm.ts           the assembler the guests are written for
//   guests/          the lesson guests, as assembly source
//   kvm.ts           /dev/kvm, a VM, a vCPU: one method per ioctl
//   machine.ts       the lesson machine: RAM, devices, the guest loaded at 0x7c00
//   monitor.ts       the KVM_RUN loop and the exit handlers
//   devices/         8250 UART, hypercall port, exit port, MMIO display
//   watchdog.ts      stopping a guest that never exits
//   report.ts        summaries and stop reports

import type { Trace } from '../sys/trace.ts';
import { assemble } from './asm.ts';
import type { Guest } from './guests/guest.ts';
import { createMachine } from './machine.ts';
import { bytesAt, runMachine, type RunOptions } from './monitor.ts';
import type { GuestRun } from './report.ts';

export { GUESTS, findGuest } from './guests/index.ts';
export type { Guest } from './guests/guest.ts';
export type { GuestRun } from './report.ts';
export type { RunResult, StopReason } from './monitor.ts';

export interface RunGuestOptions extends RunOptions {
  /** The KVM device (default /dev/kvm). */
  kvmPath?: string;
  trace: Trace;
}

/** Assemble a guest, build its machine, run it to the end, and tear the machine down. */
export function runGuest(guest: Guest, opts: RunGuestOptions): GuestRun {
  const program = assemble(guest.source);
  const t0 = process.hrtime.bigint();
  const machine = createMachine(program, { kvmPath: opts.kvmPath, trace: opts.trace });
  const setupNs = Number(process.hrtime.bigint() - t0);
  try {
    const result = runMachine(machine, opts);
    return { guest, program, result, setupNs, codeAtRip: bytesAt(machine, result.sregs.cs.base + result.regs.rip, 8) };
  } finally {
    machine.close();
  }
}
