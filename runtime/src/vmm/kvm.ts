// KVM through its file descriptors: the system (/dev/kvm), a VM, and its vCPUs. Each
// method is one ioctl, recorded in the trace as `ioctl(fd, KVM_..., arg) = result`, so
// `box --trace vm run hello` shows the conversation a monitor has with the kernel.
//
// KVM gives the VM and vCPU descriptors O_CLOEXEC, and closing them (or box exiting, even
// killed) frees the whole machine: nothing of a VM outlives the monitor process.

import fs from 'node:fs';
import { libc } from '../sys/libc.ts';
import { SysError, UserError, errnoName } from '../sys/errors.ts';
import type { Trace } from '../sys/trace.ts';
import {
  EXIT, IOCTL_NAMES, KVM, KVM_API_VERSION, KVM_CAP, SIZEOF,
} from './kvm-abi.ts';
import {
  apiMismatchMessage, DEFAULT_KVM_PATH, notKvmMessage, openFailureMessage, readHostFacts,
} from './kvm-errors.ts';
import { kvmLibc, lastErrno, MAP_SHARED, PROT_READ, PROT_WRITE, type KvmLibc, type Pointer } from './kvm-sys.ts';
import { GuestMemory } from './memory.ts';
import { decodeRegs, decodeSregs, encodeRegs, encodeSregs, type Regs, type Sregs } from './regs.ts';

const EINTR = 4;
const E2BIG = 7;

/** One ioctl, traced; throws SysError naming the request on failure. */
function ioctl(trace: Trace | null, fd: number, request: number, arg: Buffer | number = 0, argText?: string): number {
  const c = libc();
  const rc = typeof arg === 'number' ? c.ioctl(fd, request, arg) : c.ioctlPtr(fd, request, arg);
  const name = IOCTL_NAMES.get(request) ?? `0x${request.toString(16)}`;
  const args = `${fd}, ${name}${argText !== undefined ? `, ${argText}` : typeof arg === 'number' ? `, ${arg}` : ''}`;
  if (rc < 0) {
    const errno = lastErrno();
    trace?.record({ kind: 'syscall', call: 'ioctl', args, result: rc, errno: errnoName(errno) });
    throw new SysError('ioctl', args, errno);
  }
  trace?.record({ kind: 'syscall', call: 'ioctl', args, result: rc });
  return rc;
}

/** /dev/kvm: the hypervisor itself. */
export class Kvm {
  readonly path: string;
  readonly fd: number;
  readonly apiVersion: number;
  /** Size of the kvm_run area each vCPU shares with the monitor (one page, plus room for string I/O). */
  readonly vcpuMmapSize: number;
  readonly trace: Trace;
  readonly libc: KvmLibc;

  private constructor(path: string, fd: number, trace: Trace) {
    this.path = path;
    this.fd = fd;
    this.trace = trace;
    this.libc = kvmLibc();
    let version: number;
    try {
      version = ioctl(trace, fd, KVM.GET_API_VERSION);
    } catch (err) {
      fs.closeSync(fd);
      throw new UserError(notKvmMessage(path, (err as SysError).code ?? 'error'));
    }
    if (version !== KVM_API_VERSION) {
      fs.closeSync(fd);
      throw new UserError(apiMismatchMessage(path, version));
    }
    this.apiVersion = version;
    this.vcpuMmapSize = ioctl(trace, fd, KVM.GET_VCPU_MMAP_SIZE);
  }

  /** Open the KVM device; every way this can fail becomes a UserError that says what to do. */
  static open(path: string = DEFAULT_KVM_PATH, trace: Trace): Kvm {
    let fd: number;
    try {
      // libuv opens every file with O_CLOEXEC: a program box starts never inherits the device.
      fd = fs.openSync(path, fs.constants.O_RDWR);
      trace.record({ kind: 'syscall', call: 'open', args: `"${path}", O_RDWR|O_CLOEXEC`, result: fd });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      trace.record({ kind: 'syscall', call: 'open', args: `"${path}", O_RDWR|O_CLOEXEC`, result: -1, errno: code });
      throw new UserError(openFailureMessage(path, code, readHostFacts(path)));
    }
    if (!fs.fstatSync(fd).isCharacterDevice()) {
      fs.closeSync(fd);
      throw new UserError(notKvmMessage(path, 'not a character device'));
    }
    return new Kvm(path, fd, trace);
  }

  /** KVM_CHECK_EXTENSION: 0 if the capability is absent, otherwise (often) 1 or a limit. */
  checkExtension(cap: number): number {
    const name = Object.entries(KVM_CAP).find(([, v]) => v === cap)?.[0];
    return ioctl(this.trace, this.fd, KVM.CHECK_EXTENSION, cap, name ? `KVM_CAP_${name}` : String(cap));
  }

  /**
   * KVM_GET_SUPPORTED_CPUID: the CPUID leaves this host's KVM can show a guest. The caller
   * guesses how many entries there are; the kernel answers E2BIG until the guess is enough
   * (each try costs a few hundred microseconds, so the first guess is generous: x86 CPUs
   * today have about 60-100 leaves).
   */
  supportedCpuid(): Buffer {
    for (let n = 256; ; n *= 2) {
      const buf = Buffer.alloc(SIZEOF.kvm_cpuid2 + n * SIZEOF.kvm_cpuid_entry2);
      buf.writeUInt32LE(n, 0);
      try {
        ioctl(this.trace, this.fd, KVM.GET_SUPPORTED_CPUID, buf, `{nent=${n}}`);
        return buf.subarray(0, SIZEOF.kvm_cpuid2 + buf.readUInt32LE(0) * SIZEOF.kvm_cpuid_entry2);
      } catch (err) {
        if ((err as SysError).errno !== E2BIG || n > 4096) throw err;
      }
    }
  }

  createVm(): Vm {
    return new Vm(this, ioctl(this.trace, this.fd, KVM.CREATE_VM, 0));
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** One virtual machine: its memory and its vCPUs. */
export class Vm {
  readonly kvm: Kvm;
  readonly fd: number;
  readonly memory: GuestMemory[] = [];
  readonly vcpus: Vcpu[] = [];
  /** Whether KVM hands back the bytes of an instruction its emulator could not handle. */
  readonly emulationFailureBytes: boolean;
  private closed = false;

  constructor(kvm: Kvm, fd: number) {
    this.kvm = kvm;
    this.fd = fd;
    // Intel VT-x without "unrestricted guest" runs real mode as vm86 inside a hidden TSS that
    // KVM needs three pages of guest-physical address space for; AMD ignores this. QEMU puts
    // it just below the BIOS, far from any guest RAM here.
    if (kvm.checkExtension(KVM_CAP.SET_TSS_ADDR)) ioctl(kvm.trace, fd, KVM.SET_TSS_ADDR, 0xfffbd000, '0xfffbd000');
    // Ask KVM to include the instruction bytes when its emulator gives up (Linux 5.14+), so
    // a stop report can show the instruction, not only its address.
    this.emulationFailureBytes = kvm.checkExtension(KVM_CAP.EXIT_ON_EMULATION_FAILURE) > 0;
    if (this.emulationFailureBytes) {
      const cap = Buffer.alloc(SIZEOF.kvm_enable_cap);
      cap.writeUInt32LE(KVM_CAP.EXIT_ON_EMULATION_FAILURE, 0);
      cap.writeBigUInt64LE(1n, 8);
      ioctl(kvm.trace, fd, KVM.ENABLE_CAP, cap, '{cap=KVM_CAP_EXIT_ON_EMULATION_FAILURE, args[0]=1}');
    }
  }

  /**
   * Give the guest `size` bytes of RAM at guest-physical `guestPhys`: mmap them in box, then
   * tell KVM which host addresses back that guest range (a memory slot).
   */
  addMemory(guestPhys: number, size: number): GuestMemory {
    const mem = new GuestMemory(this.kvm.libc, guestPhys, size);
    const slot = this.memory.length;
    const region = Buffer.alloc(SIZEOF.kvm_userspace_memory_region);
    region.writeUInt32LE(slot, 0); // slot
    region.writeUInt32LE(0, 4); // flags
    region.writeBigUInt64LE(BigInt(guestPhys), 8); // guest_phys_addr
    region.writeBigUInt64LE(BigInt(size), 16); // memory_size
    region.writeBigUInt64LE(mem.host.address, 24); // userspace_addr
    try {
      ioctl(this.kvm.trace, this.fd, KVM.SET_USER_MEMORY_REGION, region,
        `{slot=${slot}, guest_phys_addr=0x${guestPhys.toString(16)}, memory_size=0x${size.toString(16)}, userspace_addr=0x${mem.host.address.toString(16)}}`);
    } catch (err) {
      mem.unmap();
      throw err;
    }
    this.memory.push(mem);
    return mem;
  }

  /**
   * KVM_CREATE_IRQCHIP: emulate the PC's interrupt controllers inside the kernel (two 8259
   * PICs, an I/O APIC, and a local APIC per vCPU). A guest OS needs them to take interrupts;
   * with them, a HLT waits inside KVM_RUN for the next interrupt instead of exiting to the
   * monitor. Must come before the first vCPU.
   */
  createIrqchip(): void {
    ioctl(this.kvm.trace, this.fd, KVM.CREATE_IRQCHIP);
  }

  /**
   * KVM_CREATE_PIT2: the 8254 timer chip (ports 0x40-0x43, and 0x61's speaker gate), also in
   * the kernel: Linux calibrates its clocks against it and uses it as the first timer tick.
   */
  createPit(): void {
    const cfg = Buffer.alloc(SIZEOF.kvm_pit_config);
    cfg.writeUInt32LE(1, 0); // KVM_PIT_SPEAKER_DUMMY: port 0x61 answers without a speaker
    ioctl(this.kvm.trace, this.fd, KVM.CREATE_PIT2, cfg, '{flags=KVM_PIT_SPEAKER_DUMMY}');
  }

  /**
   * KVM_IRQ_LINE: set an interrupt line of the in-kernel PIC and I/O APIC high or low, as a
   * device's interrupt pin would. Not traced: the UART moves its line for every few bytes.
   */
  irqLine(irq: number, level: boolean): void {
    const arg = Buffer.alloc(SIZEOF.kvm_irq_level);
    arg.writeUInt32LE(irq, 0);
    arg.writeUInt32LE(level ? 1 : 0, 4);
    ioctl(null, this.fd, KVM.IRQ_LINE, arg);
  }

  /** The region holding guest-physical [gpa, gpa+length), if RAM is there. */
  ram(gpa: number, length = 1): GuestMemory | undefined {
    return this.memory.find((m) => m.contains(gpa, length));
  }

  createVcpu(): Vcpu {
    const id = this.vcpus.length;
    const vcpu = new Vcpu(this, id, ioctl(this.kvm.trace, this.fd, KVM.CREATE_VCPU, id));
    this.vcpus.push(vcpu);
    return vcpu;
  }

  /** Close the vCPUs and the VM, and unmap guest memory. The views of it are invalid afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const v of this.vcpus) v.close();
    libc().close(this.fd);
    for (const m of this.memory) m.unmap();
  }
}

/** One virtual CPU: its registers, and KVM_RUN. */
export class Vcpu {
  readonly vm: Vm;
  readonly id: number;
  readonly fd: number;
  /** The kvm_run page: KVM writes why it exited here, the monitor answers reads here. */
  readonly run: Buffer;
  private readonly runMapping: Pointer;
  private readonly regsBuf = Buffer.alloc(SIZEOF.kvm_regs);
  private readonly sregsBuf = Buffer.alloc(SIZEOF.kvm_sregs);
  private closed = false;

  constructor(vm: Vm, id: number, fd: number) {
    this.vm = vm;
    this.id = id;
    this.fd = fd;
    const size = vm.kvm.vcpuMmapSize;
    const p = vm.kvm.libc.mmap(size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (!p) {
      const errno = lastErrno();
      libc().close(fd);
      throw new SysError('mmap', `NULL, ${size}, PROT_READ|PROT_WRITE, MAP_SHARED, ${fd} (vcpu), 0`, errno);
    }
    // The trace shows results as numbers; the mapping's address is a user-space address (< 2^47).
    vm.kvm.trace.record({ kind: 'syscall', call: 'mmap', args: `NULL, ${size}, PROT_READ|PROT_WRITE, MAP_SHARED, ${fd}, 0`, result: Number(p.address) });
    this.runMapping = p;
    this.run = Buffer.from(vm.kvm.libc.view(p, size));
  }

  private get trace(): Trace {
    return this.vm.kvm.trace;
  }

  getRegs(): Regs {
    ioctl(null, this.fd, KVM.GET_REGS, this.regsBuf);
    return decodeRegs(this.regsBuf);
  }

  setRegs(regs: Regs, traced = true): void {
    ioctl(traced ? this.trace : null, this.fd, KVM.SET_REGS, encodeRegs(regs, this.regsBuf), `{rip=0x${regs.rip.toString(16)}, ...}`);
  }

  getSregs(): Sregs {
    ioctl(null, this.fd, KVM.GET_SREGS, this.sregsBuf);
    return decodeSregs(this.sregsBuf);
  }

  setSregs(s: Sregs): void {
    ioctl(this.trace, this.fd, KVM.SET_SREGS, encodeSregs(s), `{cs={base=0x${s.cs.base.toString(16)}, selector=0x${s.cs.selector.toString(16)}}, cr0=0x${s.cr0.toString(16)}, ...}`);
  }

  /** KVM_SET_CPUID2: what the CPUID instruction answers in the guest. */
  setCpuid(cpuid: Buffer): void {
    ioctl(this.trace, this.fd, KVM.SET_CPUID2, cpuid, `{nent=${cpuid.readUInt32LE(0)}}`);
  }

  /**
   * KVM_SET_SIGNAL_MASK: the signal mask this thread has while it is inside KVM_RUN. The
   * watchdog blocks its signal in the thread and unblocks it here, so the signal can only
   * land while the guest runs (see watchdog.ts).
   */
  setSignalMask(sigset: Buffer): void {
    const arg = Buffer.alloc(4 + sigset.length);
    arg.writeUInt32LE(sigset.length, 0);
    sigset.copy(arg, 4);
    ioctl(this.trace, this.fd, KVM.SET_SIGNAL_MASK, arg, `{len=${sigset.length}, sigset=empty}`);
  }

  /** Guest-linear address to guest-physical, through the guest's own page tables (KVM_TRANSLATE). */
  translate(linear: bigint): bigint | null {
    const buf = Buffer.alloc(SIZEOF.kvm_translation);
    buf.writeBigUInt64LE(linear, 0);
    try {
      ioctl(null, this.fd, KVM.TRANSLATE, buf);
    } catch {
      return null;
    }
    return buf[16] ? buf.readBigUInt64LE(8) : null;
  }

  /**
   * KVM_RUN: enter the guest and block this thread until it exits to the monitor. Returns the
   * exit reason from the kvm_run page; a signal that interrupts the guest returns EXIT.INTR.
   * Not traced: a guest can exit thousands of times (the monitor counts them instead).
   */
  enter(): number {
    const rc = libc().ioctl(this.fd, KVM.RUN, 0);
    if (rc < 0) {
      const errno = lastErrno();
      if (errno === EINTR) return EXIT.INTR;
      throw new SysError('ioctl', `${this.fd}, KVM_RUN, 0`, errno);
    }
    return this.run.readUInt32LE(8);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.vm.kvm.libc.munmap(this.runMapping, this.vm.kvm.vcpuMmapSize);
    libc().close(this.fd);
  }
}
