// Is this executable statically linked? An ELF program that needs a dynamic loader names
// it in a PT_INTERP program header (e.g. /lib64/ld-linux-x86-64.so.2). One without that
// header runs on its own, in an image that has no /lib at all: what the busybox image needs.

import fs from 'node:fs';

export interface ElfInfo {
  /** e_machine: 62 for x86-64, 183 for aarch64... */
  machine: number;
  /** True when no program header asks for an interpreter. */
  isStatic: boolean;
}

const PT_INTERP = 3;

/** e_machine of the architecture Node runs on, to refuse a busybox built for another one. */
export const HOST_MACHINE: Record<string, number> = { x64: 62, arm64: 183, ia32: 3, arm: 40, riscv64: 243, ppc64: 21, s390x: 22 };

/** Read an ELF file's header and program headers; undefined if the file is not ELF. */
export function readElf(file: string): ElfInfo | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(64);
    fs.readSync(fd, head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46) return undefined; // "\x7fELF"
    const is64 = head[4] === 2;
    const le = head[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const machine = u16(head, 18);
    const phoff = is64 ? Number(le ? head.readBigUInt64LE(32) : head.readBigUInt64BE(32)) : u32(head, 28);
    const phentsize = u16(head, is64 ? 54 : 42);
    const phnum = u16(head, is64 ? 56 : 44);
    const table = Buffer.alloc(phentsize * phnum);
    fs.readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) {
      if (u32(table, i * phentsize) === PT_INTERP) return { machine, isStatic: false };
    }
    return { machine, isStatic: true };
  } finally {
    fs.closeSync(fd);
  }
}
