// `box vm linux`: boot a real Linux kernel on box's monitor.
//
//   kernel-image.ts   find the kernel; unpack a bzImage's payload to the vmlinux inside
//   initramfs.ts      the guest's root filesystem: busybox and /init, as a cpio (cpio.ts)
//   e820.ts, pvh.ts   the memory map, and the PVH start info the kernel boots from
//   cpuid.ts          what the guest's CPUID says (and what is hidden from it, and why)
//   machine.ts        the VM: RAM, in-kernel interrupt controllers and timer, COM1, the clock
//   run.ts            the exit loop in time slices, between which Node's event loop runs
//   stages.ts         how far the boot got, from the console
//   report.ts         the summary and the stop report

import { UserError } from '../../sys/errors.ts';
import type { Trace } from '../../sys/trace.ts';
import type { CpuFeatures } from './cpuid.ts';
import { buildInitramfs, findBusybox } from './initramfs.ts';
import { findKernel, loadKernelImage } from './kernel-image.ts';
import { createLinuxMachine, type LinuxMachine } from './machine.ts';
import { runLinux, type LinuxRunOptions, type LinuxRunResult } from './run.ts';
import fs from 'node:fs';

export const DEFAULT_MEM = 256 * 1024 * 1024;
export const DEFAULT_STALL_MS = 120_000;

export interface BootOptions extends Omit<LinuxRunOptions, 'stallMs'> {
  kernelPath?: string;
  /** An initramfs of the user's instead of box's (then `cmd` cannot be used). */
  initrdPath?: string;
  cmd?: string;
  memBytes?: number;
  append?: string;
  cpu?: CpuFeatures;
  kvmPath?: string;
  stallMs?: number;
  trace: Trace;
  /** Told once the machine is built, before the first KVM_RUN. */
  onReady?(m: LinuxMachine, info: { kernel: string; format: string; initrdBytes: number; setupMs: number }): void;
}

export interface Boot extends LinuxRunResult {
  /** From reading the kernel file to the vCPU ready at the PVH entry, in ms. */
  setupMs: number;
}

export async function bootLinux(o: BootOptions): Promise<Boot> {
  const t0 = performance.now();
  const kernelPath = o.kernelPath ?? findKernel();
  const kernel = loadKernelImage(kernelPath);
  let initrd: Uint8Array;
  if (o.initrdPath) {
    if (o.cmd !== undefined) throw new UserError('--cmd runs in box\'s own initramfs; leave out --initrd, or put the commands in your initramfs');
    try {
      initrd = fs.readFileSync(o.initrdPath);
    } catch (err) {
      throw new UserError(`--initrd ${o.initrdPath}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as NodeJS.ErrnoException).code}`);
    }
  } else {
    initrd = buildInitramfs({ busybox: findBusybox(), cmd: o.cmd });
  }
  const m = createLinuxMachine({
    kernel, initrd, memBytes: o.memBytes ?? DEFAULT_MEM, append: o.append, cpu: o.cpu ?? 'emulable', kvmPath: o.kvmPath, trace: o.trace,
  });
  try {
    const setupMs = performance.now() - t0;
    o.onReady?.(m, { kernel: kernelPath, format: kernel.format, initrdBytes: initrd.length, setupMs });
    const r = await runLinux(m, { ...o, stallMs: o.stallMs ?? DEFAULT_STALL_MS });
    return { ...r, setupMs };
  } finally {
    m.close();
  }
}

export { formatLinuxReport, linuxExitStatus, hostEmulates } from './report.ts';
export type { LinuxRunResult } from './run.ts';
