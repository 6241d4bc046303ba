// The memory map a PC's firmware hands the OS: which physical address ranges are RAM and
// which are not. The name comes from the BIOS call that returns it (INT 15h, AX=E820h);
// Linux prints it first thing ("BIOS-e820: [mem 0x...-0x...] usable").
//
// A PC's first megabyte has holes for history's sake: RAM up to 640 KiB (with the last KiB
// kept for the BIOS's "extended data area"), then VGA memory and ROMs up to 1 MiB. The
// monitor backs the whole range with RAM but marks the hole reserved, so the kernel leaves
// it alone as it would on a real PC. (Linux's PVH entry reserves 640 KiB-1 MiB itself too,
// and merges it with what it was given: one reserved entry is what it prints either way.)

export const E820_RAM = 1;
export const E820_RESERVED = 2;

export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

export const MIB = 1024 * 1024;
/** Where conventional memory ends, less the 1 KiB extended BIOS data area. */
const EBDA = 0x9fc00;
/**
 * Guest RAM above 1 MiB ends below 3 GiB: the PC puts device memory (the local and I/O
 * APICs at 0xfee00000 and 0xfec00000, PCI) in the last GiB below 4 GiB.
 */
export const MAX_RAM = 3072 * MIB;

/** The e820 map for a guest with `ramBytes` of RAM starting at physical 0. */
export function buildE820(ramBytes: number): E820Entry[] {
  if (!Number.isInteger(ramBytes) || ramBytes < 2 * MIB || ramBytes > MAX_RAM) {
    throw new RangeError(`guest RAM must be between 2 MiB and ${MAX_RAM / MIB} MiB, not ${ramBytes} bytes`);
  }
  return [
    { addr: 0, size: EBDA, type: E820_RAM },
    { addr: EBDA, size: 0x100000 - EBDA, type: E820_RESERVED }, // EBDA, VGA memory, option and BIOS ROMs
    { addr: 0x100000, size: ramBytes - 0x100000, type: E820_RAM },
  ];
}

/** As Linux prints it: `[mem 0x0000000000100000-0x000000000fffffff] usable`. */
export function formatE820(e: E820Entry): string {
  const hex = (n: number) => '0x' + n.toString(16).padStart(16, '0');
  return `[mem ${hex(e.addr)}-${hex(e.addr + e.size - 1)}] ${e.type === E820_RAM ? 'usable' : 'reserved'}`;
}
