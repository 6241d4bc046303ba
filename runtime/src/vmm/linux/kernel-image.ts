// Finding a Linux kernel and getting it ready to load.
//
// Distributions ship the kernel as a bzImage (/boot/vmlinuz-*): a little real-mode setup
// program, then a self-extracting decompressor with the real kernel inside, compressed.
// Booting that means running the decompressor in the guest, which on a host that emulates
// guest code (this lab's) takes many minutes. So box does what `extract-vmlinux` does:
// read the bzImage header for where the compressed payload lies, decompress it here, and
// load the resulting ELF file (vmlinux) directly, entering through its PVH entry point.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { UserError } from '../../sys/errors.ts';
import { XEN_ELFNOTE_PHYS32_ENTRY } from './pvh.ts';

/** Where box looks for a kernel when --kernel is not given, first match wins. */
export const KERNEL_DIRS = ['/var/cache/isolab/guest-kernel/boot', '/boot'];

export interface LoadSegment {
  /** Guest-physical address the bytes belong at. */
  paddr: number;
  data: Uint8Array;
  /** Bytes in memory: more than data.length means zeroes follow (.bss). */
  memsz: number;
}

export interface KernelImage {
  path: string;
  /** "bzImage, xz payload of 8.1 MB unpacked to 65.9 MB vmlinux" or "vmlinux". */
  format: string;
  segments: LoadSegment[];
  /** The PVH entry point (32-bit, physical). */
  pvhEntry: number;
  /** The highest byte the loaded kernel occupies. */
  end: number;
}

/** The newest /boot/vmlinuz-* this user may read, in the first directory that has one. */
export function findKernel(dirs = KERNEL_DIRS): string {
  const unreadable: string[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(dir).filter((n) => /^vmlinu[xz]-/.test(n));
    } catch {
      continue;
    }
    names.sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
    for (const n of names) {
      const p = path.join(dir, n);
      try {
        fs.accessSync(p, fs.constants.R_OK);
        return p;
      } catch {
        unreadable.push(p);
      }
    }
  }
  if (unreadable.length) {
    throw new UserError(`${unreadable[0]} is not readable by this user; run box as root, or copy a kernel and give it with --kernel PATH`);
  }
  throw new UserError(`no Linux kernel found (looked in ${dirs.join(', ')}); give one with --kernel PATH (a bzImage such as /boot/vmlinuz-*, or a vmlinux)`);
}

const ELF_MAGIC = 0x7f454c46;

/** The bzImage's compressed payload, by the boot protocol header (Documentation/arch/x86/boot.rst). */
export function bzImagePayload(image: Uint8Array): Uint8Array | null {
  const b = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  if (b.length < 0x250 || b.toString('latin1', 0x202, 0x206) !== 'HdrS') return null;
  const version = b.readUInt16LE(0x206);
  if (version < 0x208) throw new UserError('this bzImage is older than boot protocol 2.08 and does not say where its payload is; give an uncompressed vmlinux with --kernel');
  // The setup code is (setup_sects + 1) sectors of 512 bytes (0 means 4, for old loaders).
  const setupSects = b[0x1f1] || 4;
  const protectedMode = (setupSects + 1) * 512;
  const offset = b.readUInt32LE(0x248); // payload_offset, from the protected-mode code
  const length = b.readUInt32LE(0x24c); // payload_length
  return image.subarray(protectedMode + offset, protectedMode + offset + length);
}

interface Decompressor {
  name: string;
  magic: number[];
  run(data: Uint8Array): Buffer;
}

/** A decompressor program from the host, fed on stdin (Node has no xz, lzma, bzip2 or lz4). */
function tool(cmd: string, args: string[], pkg: string) {
  return (data: Uint8Array): Buffer => {
    const r = spawnSync(cmd, args, { input: data, maxBuffer: 1 << 30 });
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`this kernel's payload needs '${cmd}' to unpack; install it (Debian: apt install ${pkg}) or give an uncompressed vmlinux with --kernel`);
    }
    if (r.status !== 0) throw new UserError(`${cmd} could not unpack the kernel: ${r.stderr.toString().trim().split('\n')[0]}`);
    return r.stdout;
  };
}

const DECOMPRESSORS: Decompressor[] = [
  // The kernel's xz stream is followed by 4 bytes (the unpacked size): --single-stream stops before them.
  { name: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], run: tool('xz', ['-dc', '--single-stream'], 'xz-utils') },
  { name: 'gzip', magic: [0x1f, 0x8b], run: (d) => zlib.gunzipSync(d) },
  { name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], run: tool('zstd', ['-dc'], 'zstd') },
  { name: 'lz4', magic: [0x02, 0x21, 0x4c, 0x18], run: tool('lz4', ['-dc'], 'lz4') },
  { name: 'bzip2', magic: [0x42, 0x5a, 0x68], run: tool('bzip2', ['-dc'], 'bzip2') },
  { name: 'lzma', magic: [0x5d, 0x00, 0x00], run: tool('xz', ['-dc', '--format=lzma'], 'xz-utils') },
];

export function decompressPayload(payload: Uint8Array): { name: string; data: Buffer } {
  const d = DECOMPRESSORS.find((c) => c.magic.every((m, i) => payload[i] === m));
  if (!d) throw new UserError('the bzImage\'s payload is in a compression box does not know; give an uncompressed vmlinux with --kernel');
  return { name: d.name, data: d.run(payload) };
}

/**
 * An ELF vmlinux: its PT_LOAD segments (at their physical addresses) and the PVH entry from
 * its Xen notes. Only what a loader needs; see elf(5).
 */
export function parseVmlinux(file: Uint8Array): { segments: LoadSegment[]; pvhEntry: number | null } {
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (b.length < 64 || b.readUInt32BE(0) !== ELF_MAGIC) throw new UserError('not an ELF file');
  if (b[4] !== 2 || b[5] !== 1 || b.readUInt16LE(18) !== 62) throw new UserError('not a 64-bit x86 ELF file (a vmlinux for x86-64 is needed)');
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  const segments: LoadSegment[] = [];
  let pvhEntry: number | null = null;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const type = b.readUInt32LE(at);
    const offset = Number(b.readBigUInt64LE(at + 8));
    const paddr = Number(b.readBigUInt64LE(at + 24));
    const filesz = Number(b.readBigUInt64LE(at + 32));
    const memsz = Number(b.readBigUInt64LE(at + 40));
    if (offset + filesz > b.length) throw new UserError('the ELF file is truncated');
    if (type === 1) segments.push({ paddr, data: file.subarray(offset, offset + filesz), memsz }); // PT_LOAD
    if (type === 4) pvhEntry = findPvhEntry(b.subarray(offset, offset + filesz)) ?? pvhEntry; // PT_NOTE
  }
  return { segments, pvhEntry };
}

/** Notes are (namesz, descsz, type, name padded to 4, desc padded to 4), one after another. */
function findPvhEntry(notes: Buffer): number | null {
  const pad = (n: number) => (n + 3) & ~3;
  for (let at = 0; at + 12 <= notes.length;) {
    const namesz = notes.readUInt32LE(at);
    const descsz = notes.readUInt32LE(at + 4);
    const type = notes.readUInt32LE(at + 8);
    const name = notes.toString('latin1', at + 12, at + 12 + namesz).replace(/\0+$/, '');
    const desc = at + 12 + pad(namesz);
    if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY && descsz >= 4) return notes.readUInt32LE(desc);
    at = desc + pad(descsz);
  }
  return null;
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** Read a kernel (bzImage or vmlinux) and return what to load and where to enter. */
export function loadKernelImage(file: string): KernelImage {
  let image: Buffer;
  try {
    image = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `--kernel ${file}: no such file` : `cannot read the kernel ${file}: ${code}`);
  }
  let format = 'vmlinux';
  let elf: Uint8Array = image;
  const payload = bzImagePayload(image);
  if (payload) {
    const { name, data } = decompressPayload(payload);
    format = `bzImage, its ${name} payload of ${mb(payload.length)} unpacked to a ${mb(data.length)} vmlinux`;
    elf = data;
  } else if (image.length < 4 || image.readUInt32BE(0) !== ELF_MAGIC) {
    throw new UserError(`${file} is neither a bzImage nor an ELF vmlinux`);
  }
  const { segments, pvhEntry } = parseVmlinux(elf);
  if (pvhEntry === null) {
    throw new UserError(`${file} has no PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY); box boots kernels built with CONFIG_PVH=y, as Debian's are`);
  }
  const end = Math.max(...segments.map((s) => s.paddr + s.memsz));
  return { path: file, format, segments, pvhEntry, end };
}
