// A lesson machine: one vCPU, 640 KiB of RAM, the devices, and a guest program loaded the
// way a PC BIOS loads a boot sector: at 0x7c00, started in 16-bit real mode at 0000:7C00 with
// the stack just below it. Everything after that (protected mode, paging, long mode) is the
// guest's own doing.

import type { Trace } from '../sys/trace.ts';
import type { Program } from './asm.ts';
import { Bus } from './devices/bus.ts';
import { ExitPort } from './devices/exit-port.ts';
import { HypercallPort } from './devices/hypercall.ts';
import { MmioDisplay } from './devices/mmio-display.ts';
import { Uart8250 } from './devices/uart8250.ts';
import { Kvm, type Vcpu, type Vm } from './kvm.ts';

/** Conventional memory: the PC's first 640 KiB. Above it, up to 1 MiB, is device space. */
export const RAM_SIZE = 640 * 1024;
export const BOOT_ADDRESS = 0x7c00;

export interface Devices {
  uart: Uart8250;
  hypercall: HypercallPort;
  exit: ExitPort;
  display: MmioDisplay;
}

export interface Machine {
  kvm: Kvm;
  vm: Vm;
  vcpu: Vcpu;
  bus: Bus;
  devices: Devices;
  program: Program;
  close(): void;
}

export function createMachine(program: Program, opts: { kvmPath?: string; trace: Trace }): Machine {
  const kvm = Kvm.open(opts.kvmPath, opts.trace);
  let vm: Vm | undefined;
  try {
    vm = kvm.createVm();
    const ram = vm.addMemory(0, RAM_SIZE);
    if (program.origin < 0 || !ram.contains(program.origin, program.image.length)) {
      throw new Error(`the program (0x${program.origin.toString(16)}, ${program.image.length} bytes) does not fit in guest RAM`);
    }
    ram.write(program.origin, program.image);
    opts.trace.record({ kind: 'note', text: `load ${program.image.length} bytes of guest code at guest-physical 0x${program.origin.toString(16)}` });

    const vcpu = vm.createVcpu();
    // CPUID: show the guest what this host's KVM supports. Without it the guest's CPU claims
    // no long mode, and KVM refuses the guest's own WRMSR to EFER.LME.
    vcpu.setCpuid(kvm.supportedCpuid());

    // Real mode at 0000:entry. A vCPU starts as a PC does at reset (CS base 0xffff0000, IP
    // 0xfff0, the BIOS entry); this is the state a BIOS leaves when it jumps to a boot sector.
    const entry = Number(program.symbols.get('start') ?? BigInt(program.origin));
    const sregs = vcpu.getSregs();
    for (const seg of [sregs.cs, sregs.ds, sregs.es, sregs.ss]) {
      seg.base = 0n;
      seg.selector = 0;
    }
    vcpu.setSregs(sregs);
    const regs = vcpu.getRegs();
    regs.rip = BigInt(entry);
    regs.rsp = BigInt(BOOT_ADDRESS);
    regs.rflags = 2n; // bit 1 is reserved and always 1; interrupts off
    vcpu.setRegs(regs);

    const devices: Devices = {
      uart: new Uart8250(),
      hypercall: new HypercallPort(),
      exit: new ExitPort(),
      display: new MmioDisplay(),
    };
    const bus = new Bus().addPorts(devices.uart).addPorts(devices.hypercall).addPorts(devices.exit).addMmio(devices.display);
    const machine: Machine = {
      kvm, vm, vcpu, bus, devices, program,
      close() {
        vm!.close();
        kvm.close();
      },
    };
    return machine;
  } catch (err) {
    vm?.close();
    kvm.close();
    throw err;
  }
}
