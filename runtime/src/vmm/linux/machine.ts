// The Linux machine: a PC small enough to read. One vCPU; RAM from physical 0; KVM's
// in-kernel interrupt controllers and timer; and two devices played by the monitor, the
// serial port (COM1, IRQ 4) the kernel's console runs on, and the CMOS clock. No disk, no
// network, no PCI, no ACPI: the kernel and its initramfs are placed in memory by the monitor,
// and everything else is in the command line.

import { UserError } from '../../sys/errors.ts';
import type { Trace } from '../../sys/trace.ts';
import { Bus } from '../devices/bus.ts';
import { CmosRtc } from '../devices/cmos-rtc.ts';
import { Uart8250 } from '../devices/uart8250.ts';
import { Kvm, type Vcpu, type Vm } from '../kvm.ts';
import { CR0_PE } from '../kvm-abi.ts';
import type { Segment } from '../regs.ts';
import { guestCpuid, type CpuFeatures } from './cpuid.ts';
import { buildE820, MIB, type E820Entry } from './e820.ts';
import type { KernelImage } from './kernel-image.ts';
import { initrdAddress, writePvhStartInfo } from './pvh.ts';

/** COM1's interrupt line on a PC. */
export const UART_IRQ = 4;

/**
 * The kernel command line box gives, before the user's --append:
 *   console=ttyS0         the kernel's messages and /dev/console on the serial port
 *   earlyprintk=ttyS0     messages even before the console driver is up
 *   rdinit=/init          run the initramfs's /init as PID 1
 *   reboot=t panic=-1     a panic or reboot ends in a triple fault at once: the monitor stops
 *   acpi=off pci=off      no firmware tables and no PCI bus here; don't look for them
 *   i8042.noaux i8042.nokbd  no PS/2 keyboard or mouse
 *   tsc=reliable no_timer_check  trust the TSC; don't second-guess a slow, emulated timer
 */
export const BASE_CMDLINE = 'console=ttyS0 earlyprintk=ttyS0 rdinit=/init reboot=t panic=-1 acpi=off pci=off i8042.noaux i8042.nokbd tsc=reliable no_timer_check';

export interface LinuxMachineOptions {
  kernel: KernelImage;
  initrd: Uint8Array;
  memBytes: number;
  append?: string;
  cpu: CpuFeatures;
  kvmPath?: string;
  trace: Trace;
}

export interface LinuxMachine {
  kvm: Kvm;
  vm: Vm;
  vcpu: Vcpu;
  bus: Bus;
  uart: Uart8250;
  e820: E820Entry[];
  cmdline: string;
  /** Which CPU features the guest does not see. */
  hiddenCpu: string;
  close(): void;
}

const flat32 = (selector: number, type: number): Segment => ({
  base: 0n, limit: 0xffffffff, selector, type, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0,
});

export function createLinuxMachine(o: LinuxMachineOptions): LinuxMachine {
  const e820 = buildE820(o.memBytes);
  const initrdAt = initrdAddress(e820, o.initrd.length);
  if (o.kernel.end > initrdAt) {
    throw new UserError(`the kernel needs ${Math.ceil((o.kernel.end + o.initrd.length) / MIB)} MiB of guest memory with its initramfs; give more with --mem`);
  }
  const kvm = Kvm.open(o.kvmPath, o.trace);
  let vm: Vm | undefined;
  try {
    vm = kvm.createVm();
    // The interrupt controllers must exist before the vCPU, whose local APIC is part of them.
    vm.createIrqchip();
    vm.createPit();
    const ram = vm.addMemory(0, o.memBytes);
    for (const s of o.kernel.segments) {
      ram.write(s.paddr, s.data); // the rest up to memsz is .bss: already zero (fresh anonymous memory)
    }
    ram.write(initrdAt, o.initrd);
    // noxsave: the kernel's own switch for XSAVE. Measured on the lab host: with XSAVE hidden
    // from CPUID the kernel still reported XSAVE features and stopped on XRSTOR; noxsave makes
    // it use FXSAVE/FXRSTOR, which KVM's emulator has.
    const cmdline = [BASE_CMDLINE, o.cpu === 'emulable' ? 'noxsave' : '', o.append].filter(Boolean).join(' ');
    const startInfo = writePvhStartInfo(ram.bytes, { cmdline, e820, initrd: { addr: initrdAt, size: o.initrd.length } });
    o.trace.record({ kind: 'note', text: `load the kernel (${o.kernel.segments.length} segments, up to 0x${o.kernel.end.toString(16)}), the initramfs (${o.initrd.length} bytes at 0x${initrdAt.toString(16)}), the PVH start info at 0x${startInfo.toString(16)}` });

    const vcpu = vm.createVcpu();
    const { cpuid, hidden } = guestCpuid(kvm.supportedCpuid(), o.cpu);
    vcpu.setCpuid(cpuid);

    // The PVH entry state: 32-bit protected mode, paging off, flat segments, ebx -> start info.
    // Segment registers are loaded straight into the vCPU; the kernel sets up its own GDT first thing.
    const sregs = vcpu.getSregs();
    sregs.cs = flat32(0x10, 0xb); // code: execute/read, accessed
    for (const seg of ['ds', 'es', 'fs', 'gs', 'ss'] as const) sregs[seg] = flat32(0x18, 0x3); // data: read/write, accessed
    // TR must hold a 32-bit TSS (type 11: busy), base 0, limit 0x67 (the PVH ABI says so).
    sregs.tr = { ...flat32(0x20, 0xb), limit: 0x67, s: 0, db: 0, g: 0 };
    sregs.cr0 = CR0_PE;
    sregs.cr4 = 0n;
    sregs.efer = 0n;
    vcpu.setSregs(sregs);
    const regs = vcpu.getRegs();
    regs.rip = BigInt(o.kernel.pvhEntry);
    regs.rbx = BigInt(startInfo);
    regs.rflags = 2n;
    vcpu.setRegs(regs);

    const theVm = vm;
    const uart = new Uart8250(undefined, (level) => theVm.irqLine(UART_IRQ, level));
    const bus = new Bus().addPorts(uart).addPorts(new CmosRtc());
    return {
      kvm, vm, vcpu, bus, uart, e820, cmdline, hiddenCpu: hidden,
      close() {
        theVm.close();
        kvm.close();
      },
    };
  } catch (err) {
    vm?.close();
    kvm.close();
    throw err;
  }
}
