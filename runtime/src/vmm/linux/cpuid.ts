// What the guest's CPUID instruction answers. KVM_GET_SUPPORTED_CPUID lists every feature
// this host's KVM can give a guest; the monitor may hide some before KVM_SET_CPUID2, and the
// guest kernel then does without them.
//
// Why hide anything: Linux saves and restores the FPU and vector registers with XSAVE and
// XRSTOR when CPUID says the CPU has them, and uses AVX in its crypto and RAID code. On a
// host whose KVM emulates guest instructions in software (this lab's nested kvm-pvm), the
// emulator has no XRSTOR and no AVX: the guest stops with an emulation failure. Without
// XSAVE in CPUID, Linux falls back to FXSAVE/FXRSTOR, which KVM's emulator knows. The
// 'emulable' set hides what that emulator cannot do; 'host' hides nothing.

export type CpuFeatures = 'host' | 'emulable';

interface Hide {
  leaf: number;
  /** Only this subleaf (index); undefined = all. */
  index?: number;
  reg: 'eax' | 'ebx' | 'ecx' | 'edx';
  bits: number[];
  what: string;
}

/** Intel SDM vol. 2A, CPUID; AMD APM vol. 3, appendix E. */
const NOT_EMULABLE: Hide[] = [
  { leaf: 1, reg: 'ecx', bits: [12, 26, 27, 28, 29], what: 'FMA XSAVE OSXSAVE AVX F16C' },
  // CMPXCHG16B: KVM's emulator has CMPXCHG8B but not the 16-byte form; Linux's SLUB
  // allocator uses it on every allocation when CPUID offers it (measured: the Debian 6.1
  // kernel stops right after "Memory:" on `lock cmpxchg16b`). Without it, SLUB takes a lock.
  { leaf: 1, reg: 'ecx', bits: [13], what: 'CMPXCHG16B' },
  { leaf: 7, index: 0, reg: 'ebx', bits: [5, 16, 17, 21, 26, 27, 28, 30, 31], what: 'AVX2 AVX-512' },
  { leaf: 7, index: 0, reg: 'ecx', bits: [1, 6, 9, 10, 11, 12, 14], what: 'AVX-512 VBMI/VNNI/BITALG/VPOPCNTDQ VAES VPCLMULQDQ' },
  { leaf: 7, index: 0, reg: 'edx', bits: [2, 3, 8, 22, 23, 24, 25], what: 'AVX-512 4VNNIW/4FMAPS/VP2INTERSECT, AMX' },
  { leaf: 7, index: 1, reg: 'eax', bits: [4, 5], what: 'AVX-VNNI AVX512-BF16' },
  { leaf: 0x80000001, reg: 'ecx', bits: [11, 16], what: 'XOP FMA4' },
];

/** struct kvm_cpuid_entry2: function, index, flags, eax, ebx, ecx, edx, 3 x padding (u32 each). */
const ENTRY = { size: 40, function: 0, index: 4, eax: 12, ebx: 16, ecx: 20, edx: 24 } as const;
const HEADER = 8; // struct kvm_cpuid2: nent, padding

/** Leaf 0xd describes the XSAVE area; with XSAVE hidden it must say "none". */
const XSAVE_LEAF = 0xd;

/**
 * A copy of `supported` (a struct kvm_cpuid2) with the features of `mode` hidden, and a
 * line saying what was hidden.
 */
export function guestCpuid(supported: Buffer, mode: CpuFeatures): { cpuid: Buffer; hidden: string } {
  const cpuid = Buffer.from(supported);
  if (mode === 'host') return { cpuid, hidden: 'none (the host KVM\'s supported CPUID as it is)' };
  const n = cpuid.readUInt32LE(0);
  for (let i = 0; i < n; i++) {
    const at = HEADER + i * ENTRY.size;
    const leaf = cpuid.readUInt32LE(at + ENTRY.function);
    const index = cpuid.readUInt32LE(at + ENTRY.index);
    if (leaf === XSAVE_LEAF) {
      for (const r of ['eax', 'ebx', 'ecx', 'edx'] as const) cpuid.writeUInt32LE(0, at + ENTRY[r]);
      continue;
    }
    for (const h of NOT_EMULABLE) {
      if (h.leaf !== leaf || (h.index !== undefined && h.index !== index)) continue;
      const mask = h.bits.reduce((m, b) => m | (1 << b), 0) >>> 0;
      cpuid.writeUInt32LE((cpuid.readUInt32LE(at + ENTRY[h.reg]) & ~mask) >>> 0, at + ENTRY[h.reg]);
    }
  }
  return { cpuid, hidden: NOT_EMULABLE.map((h) => h.what).join(', ') + ' (and leaf 0xd, the XSAVE area)' };
}

/** One register of one leaf, for tests and reports. */
export function cpuidRegister(cpuid: Buffer, leaf: number, index: number, reg: 'eax' | 'ebx' | 'ecx' | 'edx'): number | undefined {
  const n = cpuid.readUInt32LE(0);
  for (let i = 0; i < n; i++) {
    const at = HEADER + i * ENTRY.size;
    if (cpuid.readUInt32LE(at + ENTRY.function) === leaf && cpuid.readUInt32LE(at + ENTRY.index) === index) return cpuid.readUInt32LE(at + ENTRY[reg]);
  }
  return undefined;
}
