// PVH boot: the simplest way into a Linux kernel. Xen defined it for its "PVH" guests and
// QEMU and Firecracker use it too: the kernel's ELF file carries a note
// (XEN_ELFNOTE_PHYS32_ENTRY) with the physical address of an entry point, which expects
//
//   - 32-bit protected mode, paging off, flat 4 GiB code and data segments;
//   - ebx = the physical address of a struct hvm_start_info (xen/include/public/arch-x86/
//     hvm/start_info.h): the kernel command line, the modules (our initramfs) and, from
//     version 1, the memory map (e820 types).
//
// No real-mode setup code, no boot_params to fill in, no decompressor: the kernel builds its
// own boot_params from this structure (arch/x86/platform/pvh/enlighten.c).

import { E820_RAM, type E820Entry } from './e820.ts';

export const HVM_START_MAGIC = 0x336ec578; // "xEn3" with the high bit of the 0x33 flipped
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/** struct hvm_start_info (version 1): 56 bytes. */
export const START_INFO = {
  magic: 0, // u32
  version: 4, // u32
  flags: 8, // u32
  nr_modules: 12, // u32
  modlist_paddr: 16, // u64
  cmdline_paddr: 24, // u64
  rsdp_paddr: 32, // u64: ACPI tables; 0 = none
  memmap_paddr: 40, // u64
  memmap_entries: 48, // u32
  reserved: 52, // u32
  size: 56,
} as const;
/** struct hvm_modlist_entry: paddr, size, cmdline_paddr, reserved (u64 each). */
export const MODLIST_ENTRY_SIZE = 32;
/** struct hvm_memmap_table_entry: addr u64, size u64, type u32, reserved u32. */
export const MEMMAP_ENTRY_SIZE = 24;

/**
 * Where the boot structures go in guest memory: low pages the e820 map calls RAM and the
 * kernel (loaded at 16 MiB) does not use. The kernel copies what it needs early, and it
 * reserves the initramfs (module 0) until it has unpacked it.
 */
export const LAYOUT = {
  startInfo: 0x6000,
  modlist: 0x6040,
  memmap: 0x7000,
  cmdline: 0x20000,
  cmdlineMax: 0x10000,
} as const;

export interface PvhBoot {
  cmdline: string;
  e820: E820Entry[];
  initrd?: { addr: number; size: number };
}

/**
 * Write the start info, its memory map, module list and command line into `ram` (guest
 * physical 0 at index 0). Returns the address for ebx.
 */
export function writePvhStartInfo(ram: Uint8Array, boot: PvhBoot): number {
  const view = Buffer.from(ram.buffer, ram.byteOffset, ram.byteLength);
  const cmd = Buffer.from(boot.cmdline + '\0');
  if (cmd.length > LAYOUT.cmdlineMax) throw new RangeError(`kernel command line longer than ${LAYOUT.cmdlineMax - 1} bytes`);
  if (boot.e820.length * MEMMAP_ENTRY_SIZE > 0x1000) throw new RangeError('too many e820 entries');
  cmd.copy(view, LAYOUT.cmdline);

  boot.e820.forEach((e, i) => {
    const at = LAYOUT.memmap + i * MEMMAP_ENTRY_SIZE;
    view.writeBigUInt64LE(BigInt(e.addr), at);
    view.writeBigUInt64LE(BigInt(e.size), at + 8);
    view.writeUInt32LE(e.type, at + 16);
    view.writeUInt32LE(0, at + 20);
  });

  if (boot.initrd) {
    view.fill(0, LAYOUT.modlist, LAYOUT.modlist + MODLIST_ENTRY_SIZE);
    view.writeBigUInt64LE(BigInt(boot.initrd.addr), LAYOUT.modlist);
    view.writeBigUInt64LE(BigInt(boot.initrd.size), LAYOUT.modlist + 8);
  }

  const s = LAYOUT.startInfo;
  view.fill(0, s, s + START_INFO.size);
  view.writeUInt32LE(HVM_START_MAGIC, s + START_INFO.magic);
  view.writeUInt32LE(1, s + START_INFO.version);
  view.writeUInt32LE(boot.initrd ? 1 : 0, s + START_INFO.nr_modules);
  view.writeBigUInt64LE(boot.initrd ? BigInt(LAYOUT.modlist) : 0n, s + START_INFO.modlist_paddr);
  view.writeBigUInt64LE(BigInt(LAYOUT.cmdline), s + START_INFO.cmdline_paddr);
  view.writeBigUInt64LE(BigInt(LAYOUT.memmap), s + START_INFO.memmap_paddr);
  view.writeUInt32LE(boot.e820.length, s + START_INFO.memmap_entries);
  return s;
}

/** Where the initramfs goes: the top of RAM, page-aligned, as boot loaders put it. */
export function initrdAddress(e820: E820Entry[], size: number): number {
  const top = e820.filter((e) => e.type === E820_RAM).reduce((a, e) => Math.max(a, e.addr + e.size), 0);
  return Math.floor((top - size) / 4096) * 4096;
}
