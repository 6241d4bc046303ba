// The KVM ABI box speaks: ioctl numbers and the layouts of the structures they pass, from
// <linux/kvm.h> (x86-64). A monitor talks to KVM through three kinds of file descriptor:
//
//   /dev/kvm        the system:  API version, capabilities, "create a VM"
//   the VM fd       one machine: its memory slots, "create a vCPU"
//   the vCPU fd     one CPU:     its registers, KVM_RUN, and the shared kvm_run page
//
// An ioctl number packs direction, size, type and number: _IOW(KVMIO, 0x46, struct of 32
// bytes) = 1 << 30 | 32 << 16 | 0xAE << 8 | 0x46. The kernel checks the size, so a wrong
// struct size fails with EINVAL/ENOTTY instead of corrupting memory.

const KVMIO = 0xae;
const NONE = 0;
const WRITE = 1; // userspace writes, the kernel reads (_IOW)
const READ = 2; // the kernel writes, userspace reads (_IOR)

function ioc(dir: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
}

/** sizeof the structures below, as the kernel declares them. */
export const SIZEOF = {
  kvm_userspace_memory_region: 32,
  kvm_regs: 144,
  kvm_sregs: 312,
  kvm_segment: 24,
  kvm_dtable: 16,
  kvm_cpuid2: 8,
  kvm_cpuid_entry2: 40,
  kvm_translation: 24,
  kvm_enable_cap: 104,
  kvm_pit_config: 64,
  kvm_irq_level: 8,
} as const;

export const KVM = {
  // on /dev/kvm
  GET_API_VERSION: ioc(NONE, 0x00, 0),
  CREATE_VM: ioc(NONE, 0x01, 0),
  CHECK_EXTENSION: ioc(NONE, 0x03, 0),
  GET_VCPU_MMAP_SIZE: ioc(NONE, 0x04, 0),
  GET_SUPPORTED_CPUID: ioc(READ | WRITE, 0x05, SIZEOF.kvm_cpuid2),
  // on a VM
  CREATE_VCPU: ioc(NONE, 0x41, 0),
  SET_USER_MEMORY_REGION: ioc(WRITE, 0x46, SIZEOF.kvm_userspace_memory_region),
  SET_TSS_ADDR: ioc(NONE, 0x47, 0),
  ENABLE_CAP: ioc(WRITE, 0xa3, SIZEOF.kvm_enable_cap),
  CREATE_IRQCHIP: ioc(NONE, 0x60, 0),
  IRQ_LINE: ioc(WRITE, 0x61, SIZEOF.kvm_irq_level),
  CREATE_PIT2: ioc(WRITE, 0x77, SIZEOF.kvm_pit_config),
  // on a vCPU
  RUN: ioc(NONE, 0x80, 0),
  GET_REGS: ioc(READ, 0x81, SIZEOF.kvm_regs),
  SET_REGS: ioc(WRITE, 0x82, SIZEOF.kvm_regs),
  GET_SREGS: ioc(READ, 0x83, SIZEOF.kvm_sregs),
  SET_SREGS: ioc(WRITE, 0x84, SIZEOF.kvm_sregs),
  TRANSLATE: ioc(READ | WRITE, 0x85, SIZEOF.kvm_translation),
  SET_SIGNAL_MASK: ioc(WRITE, 0x8b, 4),
  SET_CPUID2: ioc(WRITE, 0x90, SIZEOF.kvm_cpuid2),
} as const;

/** Names for the trace: ioctl(5, KVM_RUN, 0). */
export const IOCTL_NAMES = new Map<number, string>(Object.entries(KVM).map(([k, v]) => [v, `KVM_${k}`]));

/** The only KVM API version there has ever been in mainline Linux (since 2.6.22). */
export const KVM_API_VERSION = 12;

/** Capabilities box asks about with KVM_CHECK_EXTENSION. */
export const KVM_CAP = {
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  EXT_CPUID: 7,
  IRQCHIP: 0,
  PIT2: 33,
  IMMEDIATE_EXIT: 136,
  EXIT_ON_EMULATION_FAILURE: 204,
} as const;

/** Why KVM_RUN returned: kvm_run.exit_reason. */
export const EXIT_REASON: Record<number, string> = {
  0: 'UNKNOWN',
  1: 'EXCEPTION',
  2: 'IO',
  3: 'HYPERCALL',
  4: 'DEBUG',
  5: 'HLT',
  6: 'MMIO',
  7: 'IRQ_WINDOW_OPEN',
  8: 'SHUTDOWN',
  9: 'FAIL_ENTRY',
  10: 'INTR',
  11: 'SET_TPR',
  12: 'TPR_ACCESS',
  16: 'NMI',
  17: 'INTERNAL_ERROR',
  24: 'SYSTEM_EVENT',
};

export const EXIT = {
  IO: 2,
  HLT: 5,
  MMIO: 6,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
} as const;

/** kvm_run.system_event.type */
export const SYSTEM_EVENT: Record<number, string> = { 1: 'shutdown', 2: 'reset', 3: 'crash' };

/** kvm_run.internal.suberror */
export const INTERNAL_ERROR: Record<number, string> = {
  1: 'the in-kernel instruction emulator could not emulate an instruction',
  2: 'a fault while delivering an event (simultaneous exceptions)',
  3: 'a second fault while delivering an event',
  4: 'a VM exit KVM does not know',
};

/**
 * struct kvm_run, the page shared between KVM and the monitor (mmap of the vCPU fd at
 * offset 0). KVM_RUN fills it before returning; for an IN or an MMIO read the monitor
 * writes the answer into it, and the next KVM_RUN completes the guest's instruction.
 */
export const RUN = {
  immediate_exit: 1, // u8: set to 1 and KVM_RUN returns EINTR at once
  exit_reason: 8, // u32
  // the exit-specific union starts at offset 32
  io: {
    direction: 32, // u8: 0 = IN (guest reads), 1 = OUT (guest writes)
    size: 33, // u8: 1, 2 or 4 bytes
    port: 34, // u16
    count: 36, // u32: more than 1 for a string instruction (rep outsb)
    data_offset: 40, // u64: where in this page the data lies, count * size bytes
  },
  mmio: {
    phys_addr: 32, // u64
    data: 40, // u8[8]
    len: 48, // u32
    is_write: 52, // u8
  },
  fail_entry: {
    hardware_entry_failure_reason: 32, // u64
    cpu: 40, // u32
  },
  internal: {
    suberror: 32, // u32
    ndata: 36, // u32
    data: 40, // u64[16]
  },
  emulation_failure: {
    flags: 40, // u64: bit 0 = insn_size and insn_bytes are valid
    insn_size: 48, // u8
    insn_bytes: 49, // u8[15]
  },
  system_event: {
    type: 32, // u32: 1 = shutdown (power off), 2 = reset, 3 = crash
  },
} as const;

/** struct kvm_regs: the general-purpose registers, in this order, each a u64. */
export const REG_NAMES = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
  'rip', 'rflags',
] as const;

/**
 * struct kvm_sregs: eight kvm_segment (cs ds es fs gs ss tr ldt, 24 bytes each), two
 * kvm_dtable (gdt idt, 16 bytes each), then cr0 cr2 cr3 cr4 cr8 efer apic_base (u64 each) and
 * the pending-interrupt bitmap.
 */
export const SEGMENT_NAMES = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;
export const SREGS = {
  segments: 0,
  gdt: 192,
  idt: 208,
  cr0: 224,
  cr2: 232,
  cr3: 240,
  cr4: 248,
  cr8: 256,
  efer: 264,
  apic_base: 272,
} as const;

/** struct kvm_segment: base u64, limit u32, selector u16, then one byte each. */
export const SEGMENT = {
  base: 0,
  limit: 8,
  selector: 12,
  type: 14,
  present: 15,
  dpl: 16,
  db: 17,
  s: 18,
  l: 19,
  g: 20,
  avl: 21,
  unusable: 22,
} as const;

// Control-register and EFER bits the guests and reports use (Intel SDM vol. 3, 2.5).
export const CR0_PE = 1n << 0n; // protected mode
export const CR0_PG = 1n << 31n; // paging
export const CR4_PAE = 1n << 5n;
export const EFER_LME = 1n << 8n; // long mode enable
export const EFER_LMA = 1n << 10n; // long mode active (set by the CPU)
