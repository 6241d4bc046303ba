// The vCPU's registers, read and written as whole structures: struct kvm_regs (the
// general-purpose registers, rip and rflags) and struct kvm_sregs (segments, descriptor
// tables, control registers, EFER). Decoded into plain objects so the monitor can say
// `sregs.cs.base = 0n` instead of poking at byte offsets.

import { REG_NAMES, SEGMENT, SEGMENT_NAMES, SIZEOF, SREGS } from './kvm-abi.ts';

export type RegName = (typeof REG_NAMES)[number];
export type Regs = Record<RegName, bigint>;

export function decodeRegs(buf: Buffer): Regs {
  const regs = {} as Regs;
  REG_NAMES.forEach((name, i) => (regs[name] = buf.readBigUInt64LE(i * 8)));
  return regs;
}

export function encodeRegs(regs: Regs, buf = Buffer.alloc(SIZEOF.kvm_regs)): Buffer {
  REG_NAMES.forEach((name, i) => buf.writeBigUInt64LE(BigInt.asUintN(64, regs[name]), i * 8));
  return buf;
}

export interface Segment {
  base: bigint;
  limit: number;
  selector: number;
  /** Descriptor type bits: 0xb = code, execute/read, accessed; 0x3 = data, read/write, accessed. */
  type: number;
  present: number;
  dpl: number;
  /** Default operand size: 1 = 32-bit segment. */
  db: number;
  /** 1 = a code or data segment (not a system segment such as a TSS). */
  s: number;
  /** 1 = a 64-bit code segment. */
  l: number;
  /** Granularity: 1 = the limit counts 4 KiB pages. */
  g: number;
  avl: number;
  unusable: number;
}

export type SegmentName = (typeof SEGMENT_NAMES)[number];

export interface DescriptorTable {
  base: bigint;
  limit: number;
}

export type Sregs = Record<SegmentName, Segment> & {
  gdt: DescriptorTable;
  idt: DescriptorTable;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  apic_base: bigint;
  /** The rest of the structure (pending interrupts), kept as read so writing back preserves it. */
  raw: Buffer;
};

const SEGMENT_BYTES = ['type', 'present', 'dpl', 'db', 's', 'l', 'g', 'avl', 'unusable'] as const;
const CONTROL = ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'apic_base'] as const;

export function decodeSregs(buf: Buffer): Sregs {
  const s = { raw: Buffer.from(buf) } as Sregs;
  SEGMENT_NAMES.forEach((name, i) => {
    const at = SREGS.segments + i * SIZEOF.kvm_segment;
    const seg = {
      base: buf.readBigUInt64LE(at + SEGMENT.base),
      limit: buf.readUInt32LE(at + SEGMENT.limit),
      selector: buf.readUInt16LE(at + SEGMENT.selector),
    } as Segment;
    for (const f of SEGMENT_BYTES) seg[f] = buf[at + SEGMENT[f]];
    s[name] = seg;
  });
  for (const t of ['gdt', 'idt'] as const) {
    s[t] = { base: buf.readBigUInt64LE(SREGS[t]), limit: buf.readUInt16LE(SREGS[t] + 8) };
  }
  for (const c of CONTROL) s[c] = buf.readBigUInt64LE(SREGS[c]);
  return s;
}

export function encodeSregs(s: Sregs): Buffer {
  const buf = Buffer.from(s.raw);
  SEGMENT_NAMES.forEach((name, i) => {
    const at = SREGS.segments + i * SIZEOF.kvm_segment;
    const seg = s[name];
    buf.writeBigUInt64LE(seg.base, at + SEGMENT.base);
    buf.writeUInt32LE(seg.limit >>> 0, at + SEGMENT.limit);
    buf.writeUInt16LE(seg.selector, at + SEGMENT.selector);
    for (const f of SEGMENT_BYTES) buf[at + SEGMENT[f]] = seg[f];
  });
  for (const t of ['gdt', 'idt'] as const) {
    buf.writeBigUInt64LE(s[t].base, SREGS[t]);
    buf.writeUInt16LE(s[t].limit, SREGS[t] + 8);
  }
  for (const c of CONTROL) buf.writeBigUInt64LE(s[c], SREGS[c]);
  return buf;
}

export const hex = (v: bigint | number, width = 16): string => v.toString(16).padStart(width, '0');

/** The CPU mode the registers say the guest is in. */
export function cpuMode(s: Sregs): 'real mode' | '16-bit protected mode' | '32-bit protected mode' | '64-bit long mode' | 'compatibility mode' {
  if (!(s.cr0 & 1n)) return 'real mode';
  if (s.efer & (1n << 10n)) return s.cs.l ? '64-bit long mode' : 'compatibility mode';
  return s.cs.db ? '32-bit protected mode' : '16-bit protected mode';
}

/** Registers as a short block for reports: what a reader needs to see where a guest stopped. */
export function formatRegisters(r: Regs, s: Sregs): string {
  const row = (names: RegName[]) => '  ' + names.map((n) => `${n.padStart(3)} ${hex(r[n])}`).join('  ');
  const seg = (n: SegmentName) => `${n} ${hex(s[n].selector, 4)} (base ${hex(s[n].base, 8)})`;
  return [
    row(['rax', 'rbx', 'rcx', 'rdx']),
    row(['rsi', 'rdi', 'rsp', 'rbp']),
    `  rip ${hex(r.rip)}  rflags ${hex(r.rflags, 8)}  ${cpuMode(s)}`,
    `  ${seg('cs')}  ${seg('ds')}  ${seg('ss')}`,
    `  cr0 ${hex(s.cr0, 8)}  cr3 ${hex(s.cr3, 8)}  cr4 ${hex(s.cr4, 8)}  efer ${hex(s.efer, 4)}`,
    `  gdt ${hex(s.gdt.base, 8)}/${s.gdt.limit}  idt ${hex(s.idt.base, 8)}/${s.idt.limit}`,
  ].join('\n');
}
