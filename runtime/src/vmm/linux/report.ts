// What `box vm linux` says when the machine stops: how it ended, how far the boot got and
// when, the exits, and for any end but a clean power-off, where the CPU was and why this
// host may be the reason.

import fs from 'node:fs';
import { formatExit } from '../exits.ts';
import { readHostFacts } from '../kvm-errors.ts';
import { describeStop, formatCounts, formatMs } from '../report.ts';
import { formatRegisters, hex } from '../regs.ts';
import type { LinuxRunResult, LinuxStop } from './run.ts';

const bytesHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

/**
 * A name for an instruction KVM's emulator gave up on, for the few that stop Linux on an
 * emulating host. Prefixes first (lock f0, operand size 66, REX 40-4f), then the opcode.
 */
export function instructionName(bytes: Uint8Array): string | undefined {
  let i = 0;
  let lock = false;
  let rexW = false;
  while (i < bytes.length && [0xf0, 0xf2, 0xf3, 0x66, 0x2e, 0x3e, 0x26, 0x36, 0x64, 0x65].includes(bytes[i])) lock ||= bytes[i++] === 0xf0;
  if (bytes[i] >= 0x40 && bytes[i] <= 0x4f) rexW = (bytes[i++] & 8) !== 0;
  const [a, b, c] = [bytes[i], bytes[i + 1], bytes[i + 2]];
  const reg = c === undefined ? -1 : (c >> 3) & 7;
  // Linux runs one int3 on purpose at boot (the self-test of its code patching, int3_selftest).
  if (a === 0xcc) return 'int3';
  if (a === 0xc4 || a === 0xc5) return 'a VEX-encoded instruction (AVX)';
  if (a === 0x62) return 'an EVEX-encoded instruction (AVX-512)';
  if (a === 0x0f && b === 0xc7 && reg === 1) return `${lock ? 'lock ' : ''}${rexW ? 'cmpxchg16b' : 'cmpxchg8b'}`;
  if (a === 0x0f && b === 0xae) return ['fxsave', 'fxrstor', 'ldmxcsr', 'stmxcsr', 'xsave', 'xrstor', 'xsaveopt', 'clflush'][reg];
  if (a === 0x0f && b === 0xc7 && reg === 3) return 'xrstors';
  if (a !== undefined && a >= 0xd8 && a <= 0xdf) return 'an x87 FPU instruction';
  return undefined;
}

export function describeLinuxStop(stop: LinuxStop): string {
  switch (stop.kind) {
    case 'poweroff':
      return 'the guest powered off';
    case 'reset':
      return 'the guest reset the machine (a reboot, or a panic with panic=-1): the monitor stops instead of restarting it';
    case 'stalled':
      return `no progress: the kernel printed nothing for ${stop.ms / 1000} s of guest time before reaching user space (--stall to wait longer)`;
    case 'detached':
      return 'stopped by the user (Ctrl-])';
    case 'timeout':
      return `still running after ${stop.ms / 1000} s: stopped (--timeout to allow more)`;
    default:
      return describeStop(stop);
  }
}

/** Does this host run guests through KVM's emulator? A VM (hypervisor flag) whose CPU shows no vmx/svm. */
export function hostEmulates(cpuFlags = readHostFacts('/dev/kvm').cpuFlags): boolean {
  return cpuFlags.includes('hypervisor') && !cpuFlags.includes('vmx') && !cpuFlags.includes('svm');
}

/** The sentence that says where the limit is, for a run that did not power off. */
export function hostLimitSentence(stop: LinuxStop, emulating: boolean): string | undefined {
  if (stop.kind === 'poweroff' || stop.kind === 'detached') return undefined;
  if (!emulating) {
    return stop.kind === 'stalled' || stop.kind === 'internal-error'
      ? 'This host has hardware virtualization, so a stop here is worth a bug report: the kernel, its command line (--append) or box.'
      : undefined;
  }
  return 'The host\'s nested KVM is the limit: this machine is itself a VM whose CPU shows no vmx/svm, so its KVM (a nested, software-paged one) ' +
    'runs guest code through an instruction emulator, at about a million instructions a second, and stops at instructions that emulator lacks. ' +
    'The same kernel boots to a shell in about a second on a host with VT-x or AMD-V; box and the kernel are not what stopped here.';
}

export function formatLinuxReport(r: LinuxRunResult, emulating = hostEmulates()): string {
  const lines = [`box vm linux: ${describeLinuxStop(r.stop)}`];
  if (r.panic) lines.push(`  the kernel panicked: ${r.panic}`);
  const last = r.stages.at(-1);
  if (last) {
    lines.push(`  boot reached: ${last.stage.name} (${last.stage.meaning}) at ${seconds(last.guestMs)} of guest time, ${seconds(last.wallMs)} wall`);
    lines.push(`  stages: ${r.stages.map((s) => `${s.stage.name} ${seconds(s.guestMs)}`).join(', ')}`);
  } else {
    lines.push('  boot reached: nothing on the console yet (the kernel never printed its banner)');
  }
  lines.push(`  exits to the monitor: ${r.exits} (${formatCounts(r.byReason)})${r.byDevice.size ? `; by device: ${formatCounts(r.byDevice)}` : ''}`);
  lines.push(`  time: ${formatMs(r.guestNs)} in the guest (inside KVM_RUN), ${formatMs(r.wallNs)} in all`);
  const peak = peakResidentMiB();
  if (peak !== undefined) lines.push(`  memory: box's monitor process peaked at ${peak} MiB resident (the guest RAM it touched, the kernel file it read, and Node)`);
  if (r.stop.kind === 'poweroff' || r.stop.kind === 'detached') return lines.join('\n');

  lines.push(`  stopped at rip ${hex(r.regs.rip)}`);
  if (r.stop.kind === 'internal-error' && r.stop.instruction) {
    const name = instructionName(r.stop.instruction);
    lines.push(`  instruction bytes KVM fetched: ${bytesHex(r.stop.instruction)}${name ? `  (${name})` : ''}`);
  }
  if (r.codeAtRip) lines.push(`  bytes at rip: ${bytesHex(r.codeAtRip)}`);
  lines.push('registers:', formatRegisters(r.regs, r.sregs));
  const shown = r.lastExits.filter((e) => e.reason !== 'INTR').slice(-6);
  if (shown.length) {
    lines.push('last exits (time-slice interrupts left out):');
    for (const e of shown) lines.push(`  ${formatExit(e)}`);
  }
  const limit = hostLimitSentence(r.stop, emulating);
  if (limit) lines.push(limit);
  return lines.join('\n');
}

/** This process's peak resident memory (VmHWM in /proc/self/status), in MiB. */
export function peakResidentMiB(): number | undefined {
  try {
    const kb = /^VmHWM:\s*(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
    return kb ? Math.round(Number(kb) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** The exit status: the --cmd commands' own status after a power-off, 0 after a shell, 124 for time, 1 otherwise. */
export function linuxExitStatus(r: LinuxRunResult): number {
  if (r.stop.kind === 'poweroff' || r.stop.kind === 'reset') {
    const done = r.stages.find((s) => s.stage.name === 'command done');
    const m = done && /status (\d+)/.exec(done.text);
    return m ? Number(m[1]) : r.stop.kind === 'poweroff' ? 0 : 1;
  }
  if (r.stop.kind === 'detached') return 0;
  if (r.stop.kind === 'timeout' || r.stop.kind === 'stalled') return 124;
  return 1;
}
