// What the monitor tells the user after a run: how the guest stopped, its exits by reason,
// and where the time went. For a guest that went wrong, also where it was: registers, the
// instruction bytes and source line at rip, and the last exits before the end.

import { lineAt, type Program } from './asm.ts';
import { duration, formatExit } from './exits.ts';
import type { Guest } from './guests/guest.ts';
import type { RunResult, StopReason } from './monitor.ts';
import { formatRegisters, hex } from './regs.ts';

export interface GuestRun {
  guest: Guest;
  program: Program;
  result: RunResult;
  /** From opening /dev/kvm to the vCPU ready at its first instruction. */
  setupNs: number;
  /** The guest's instruction bytes at rip when it stopped, read from guest memory. */
  codeAtRip?: Uint8Array;
}

/** A normal end (halt, exit code) or the guest's fault or the watchdog. */
export function isFailure(stop: StopReason): boolean {
  return stop.kind !== 'halt' && stop.kind !== 'exit';
}

/** The exit status `box vm run` returns: the guest's exit code, 0 after HLT, 1 for a crash, 124 for the watchdog (as timeout(1)). */
export function exitStatus(stop: StopReason): number {
  if (stop.kind === 'exit') return stop.code;
  if (stop.kind === 'halt') return 0;
  if (stop.kind === 'timeout') return 124;
  return 1;
}

export function describeStop(stop: StopReason): string {
  switch (stop.kind) {
    case 'halt':
      return 'the guest halted (HLT)';
    case 'exit':
      return `the guest exited with code ${stop.code} (port 0xf4)`;
    case 'shutdown':
      return 'triple fault (KVM_EXIT_SHUTDOWN): a fault while delivering a double fault; a real CPU would reset';
    case 'timeout':
      return `still running after ${stop.ms / 1000} s: stopped by the watchdog (--timeout to allow more)`;
    case 'fail-entry':
      return `KVM could not enter the guest (KVM_EXIT_FAIL_ENTRY, hardware reason 0x${stop.hardwareReason.toString(16)}): the vCPU state is invalid`;
    case 'internal-error':
      if (stop.suberror === 1) {
        return 'KVM could not emulate an instruction (KVM_EXIT_INTERNAL_ERROR, emulation failure). KVM emulates what the CPU cannot run for it: device accesses, or every instruction on a host without hardware virtualization (a nested kvm-pvm host); the host\'s KVM is the limit here, not the guest';
      }
      return `KVM internal error (KVM_EXIT_INTERNAL_ERROR): ${stop.description}`;
    case 'system-event':
      return `the guest asked the platform to ${stop.event === 'reset' ? 'reset' : stop.event === 'crash' ? 'report a crash' : 'power off'} (KVM_EXIT_SYSTEM_EVENT)`;
    case 'unhandled':
      return `an exit this monitor does not handle (KVM_EXIT_${stop.reason})`;
  }
}

const bytesHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

/** `IO 30, HLT 1` */
export function formatCounts(counts: Map<string, number>): string {
  return [...counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
}

export function formatMs(ns: number): string {
  return duration(ns);
}

/** The lines after a run: stop, result, exits, time. */
export function formatSummary(run: GuestRun): string {
  const { result: r, guest } = run;
  const lines = [`box vm: ${guest.name}: ${describeStop(r.stop)}`];
  if (guest.result && r.stop.kind === 'halt') {
    const v = r.regs[guest.result.register];
    lines.push(`  result: ${guest.result.register} = ${v} (${guest.result.meaning})`);
  }
  lines.push(`  exits to the monitor: ${r.exits} (${formatCounts(r.byReason)})${r.byDevice.size ? `; by device: ${formatCounts(r.byDevice)}` : ''}`);
  lines.push(`  time: ${formatMs(r.guestNs)} in the guest (inside KVM_RUN), ${formatMs(r.monitorNs)} in the monitor; VM set up in ${formatMs(run.setupNs)}`);
  return lines.join('\n');
}

/** For a guest that went wrong: where it was and what it did last. */
export function formatStopReport(run: GuestRun): string {
  const { result: r, program } = run;
  const linear = r.sregs.cs.base + r.regs.rip;
  const src = lineAt(program, Number(linear));
  const lines: string[] = [];
  const at = `  stopped at ${hex(r.sregs.cs.selector, 4)}:${hex(r.regs.rip, 8)} (linear ${hex(linear, 8)})`;
  const code = src?.source.replace(/;.*/, '').replace(/^[\w.]+:\s*/, '').trim();
  lines.push(src ? `${at}: ${code}   (${run.guest.name}, line ${src.line})` : at);
  if (r.stop.kind === 'internal-error' && r.stop.instruction) {
    lines.push(`  instruction bytes KVM fetched: ${bytesHex(r.stop.instruction.subarray(0, 8))}`);
  }
  if (run.codeAtRip) lines.push(`  bytes at rip: ${bytesHex(run.codeAtRip)}`);
  lines.push('registers:', formatRegisters(r.regs, r.sregs));
  if (r.lastExits.length) {
    lines.push(`last ${r.lastExits.length === 1 ? 'exit' : `${r.lastExits.length} exits`}:`);
    for (const e of r.lastExits) lines.push(`  ${formatExit(e)}`);
  }
  return lines.join('\n');
}
