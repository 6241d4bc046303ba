// `box vm linux` on the real /dev/kvm, as a user runs it: the kernel's banner and the e820
// map box gave it come back through box's UART; whatever ends the run ends it with a report
// and an exit status, never a hang; and where the host can, the whole boot to a shell that
// runs the commands and powers off. On a nested, emulating KVM (the lab host) the last test
// skips, in CI too, as a fact of the host (test/support/requires.ts: hostFact), once it has
// checked that box stopped for that reason and printed how far the boot got in this run.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildE820, formatE820 } from '../../runtime/src/vmm/linux/e820.ts';
import { findKernel } from '../../runtime/src/vmm/linux/kernel-image.ts';
import { hostEmulates } from '../../runtime/src/vmm/linux/report.ts';
import { boxBin } from './helpers.ts';
import { hostFact, needs } from '../support/requires.ts';

function why(): string {
  try {
    fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
  } catch (err) {
    return `/dev/kvm cannot be opened here (${(err as NodeJS.ErrnoException).code})`;
  }
  try {
    findKernel();
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}
const skipReason = why();

/** How long the boot may run (wall seconds) before box stops it; VMM_LINUX_TIMEOUT overrides. */
const TIMEOUT_S = Number(process.env.VMM_LINUX_TIMEOUT ?? 240);
/** How long the boot may print nothing before box calls it stalled. */
const STALL_S = Number(process.env.VMM_LINUX_STALL ?? 60);

interface Run { code: number | null; signal: string | null; stdout: string; stderr: string; ms: number; firstBannerMs?: number; e820Ms?: number }

/** Run box, noting when (wall time from the start) the banner and the e820 map arrive on stdout. */
function boxVm(args: string[], killAfterMs: number): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(boxBin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const r: Run = { code: null, signal: null, stdout: '', stderr: '', ms: 0 };
    child.stdout.on('data', (d: Buffer) => {
      r.stdout += d.toString('latin1');
      if (r.firstBannerMs === undefined && /Linux version/.test(r.stdout)) r.firstBannerMs = performance.now() - t0;
      if (r.e820Ms === undefined && /BIOS-e820: \[mem 0x0000000000100000/.test(r.stdout)) r.e820Ms = performance.now() - t0;
    });
    child.stderr.on('data', (d: Buffer) => (r.stderr += d.toString()));
    // A safety net far beyond box's own --timeout: if it fires, the test fails as a hang.
    const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      Object.assign(r, { code, signal, ms: performance.now() - t0 });
      resolve(r);
    });
  });
}

needs(skipReason).describe('box vm linux boots the Debian kernel on box\'s monitor', () => {
  let boot: Run;
  beforeAll(async () => {
    boot = await boxVm(['vm', 'linux', '--cmd', 'echo VM-OK; uname -r; poweroff', '--timeout', String(TIMEOUT_S), '--stall', String(STALL_S)], (TIMEOUT_S + 120) * 1000);
    console.log(`box vm linux ran ${(boot.ms / 1000).toFixed(1)} s; exit ${boot.code}; 'Linux version' after ${((boot.firstBannerMs ?? NaN) / 1000).toFixed(1)} s, e820 map after ${((boot.e820Ms ?? NaN) / 1000).toFixed(1)} s (box's limits: --timeout ${TIMEOUT_S}, --stall ${STALL_S})`);
    console.log(boot.stderr.split('\n').filter((l) => /^box vm linux: |boot reached|stages:/.test(l.trimStart())).join('\n'));
  }, (TIMEOUT_S + 180) * 1000);

  it('the kernel\'s banner and the e820 map box built come back through box\'s UART', () => {
    expect(boot.stdout).toMatch(/Linux version \d+\.\d+\.\d+\S* \(/);
    // The kernel prints the map it was given, entry by entry, in box's order.
    const printed = [...boot.stdout.matchAll(/BIOS-e820: (\[mem 0x[0-9a-f]+-0x[0-9a-f]+\] \w+)/g)].map((m) => m[1]);
    expect(printed).toEqual(buildE820(256 * 1024 * 1024).map(formatE820));
    // Box's console on stdout, box's own words on stderr.
    expect(boot.stderr).toMatch(/^box vm linux: \S+ \(bzImage, its xz payload|^box vm linux: \S+ \(vmlinux\)/m);
    expect(boot.stderr).toContain('kernel command line: console=ttyS0');
  });

  it('the run ends by itself with a report and an exit status, never a hang', () => {
    expect(boot.signal).toBeNull(); // not killed by the safety net
    expect(boot.stderr).toMatch(/boot reached: \S/);
    expect(boot.stderr).toMatch(/stages: Linux version [\d.]+ s, e820 map [\d.]+ s/);
    expect(boot.stderr).toMatch(/exits to the monitor: \d+ \(.*IO \d+/);
    expect(boot.stderr).toMatch(/memory: box's monitor process peaked at \d+ MiB resident/);
    if (boot.code === 0) {
      expect(boot.stderr).toMatch(/^box vm linux: the guest powered off$/m);
      return;
    }
    // Stopped: the reason, where the CPU was, and (on an emulating host) whose limit it is.
    expect(boot.code === 124 || boot.code === 1).toBe(true);
    expect(boot.stderr).toMatch(/^box vm linux: (no progress|still running after|KVM could not emulate|triple fault|the guest reset)/m);
    expect(boot.stderr).toMatch(/stopped at rip [0-9a-f]{16}/);
    expect(boot.stderr).toMatch(/registers:\n +rax [0-9a-f]{16}/);
    expect(boot.stderr).toMatch(/64-bit long mode/);
    if (/KVM could not emulate/.test(boot.stderr)) expect(boot.stderr).toMatch(/instruction bytes KVM fetched: ([0-9a-f]{2} )+/);
    if (hostEmulates()) expect(boot.stderr).toMatch(/The host's nested KVM is the limit/);
  });

  it('boots to the shell, runs the commands and powers off (where the host can)', (ctx) => {
    if (boot.code !== 0 && hostEmulates()) {
      // A fact of this host, not something to install: its nested KVM emulates guest code
      // (no vmx/svm for the guest). Only that stop is excused: box must have said so itself.
      expect(boot.stderr).toMatch(/The host's nested KVM is the limit/);
      const reached = /boot reached: ([^\n]*)/.exec(boot.stderr)?.[1];
      const stop = /^box vm linux: (?!\/)([^\n]*)/m.exec(boot.stderr.split('\n').slice(5).join('\n'))?.[1];
      hostFact(ctx, `this host's KVM emulates guest code (nested, no vmx/svm), and box stopped the boot there: reached ${reached}; then ${stop}`);
    }
    expect(boot.code).toBe(0);
    expect(boot.stdout).toMatch(/^VM-OK\r?$/m);
    expect(boot.stdout).toMatch(/box: \/init is running/);
    expect(boot.stdout).toMatch(/reboot: Power down/);
  });
});

describe('box vm linux: bad input is one line that says what to do', () => {
  const run = (args: string[]) => boxVm(['vm', 'linux', ...args], 60_000);
  it('no such kernel, a file that is no kernel, a kernel without a PVH entry', async () => {
    let r = await run(['--kernel', '/nonexistent', '--cmd', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe('box: --kernel /nonexistent: no such file\n');
    r = await run(['--kernel', '/etc/hostname', '--cmd', 'true']);
    expect(r.stderr).toBe('box: /etc/hostname is neither a bzImage nor an ELF vmlinux\n');
    r = await run(['--kernel', process.execPath, '--cmd', 'true']);
    expect(r.stderr).toMatch(/^box: \S+ has no PVH entry point \(XEN_ELFNOTE_PHYS32_ENTRY\); box boots kernels built with CONFIG_PVH=y/);
  });

  it('options out of range, and no KVM device', async () => {
    expect((await run(['--mem', '64m'])).stderr).toBe("box: --mem '64m': give the guest's RAM from 128m to 3g, e.g. --mem 256m\n");
    expect((await run(['--cpu', 'fast'])).stderr).toBe("box: --cpu 'fast': give emulable or host\n");
    expect((await run(['uname'])).stderr).toMatch(/^box: 'box vm linux' takes no arguments \('uname'\); give commands with --cmd/);
    const r = await run(['--kvm', '/nonexistent', '--cmd', 'true']);
    if (!skipReason) expect(r.stderr).toBe('box: /nonexistent does not exist: --kvm names the KVM device (the default is /dev/kvm)\n');
    expect(r.code).toBe(125);
  });
});
