// The guest's first (and only) root filesystem: a cpio archive box writes itself, holding a
// statically linked busybox from the host and an /init script. The kernel unpacks it into a
// tmpfs and runs /init as PID 1 (rdinit=/init). A static busybox needs no C library in the
// guest: one file gives a shell and the usual tools.

import fs from 'node:fs';
import { UserError } from '../../sys/errors.ts';
import { cpioNewc, type CpioEntry } from './cpio.ts';

export const BUSYBOX_PATHS = ['/bin/busybox', '/usr/bin/busybox'];

/** What the guest's /init prints before anything else: the boot has reached user space. */
export const INIT_BANNER = 'box: /init is running';

/**
 * Is this ELF file statically linked? A dynamic one has a PT_INTERP program header naming
 * its loader (/lib64/ld-linux-x86-64.so.2), which the initramfs does not have.
 */
export function isStaticElf(file: Uint8Array): boolean {
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false; // ELF, 64-bit
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > b.length) return false;
    if (b.readUInt32LE(at) === 3) return false; // PT_INTERP
  }
  return true;
}

export function findBusybox(paths = BUSYBOX_PATHS): Uint8Array {
  for (const p of paths) {
    let data: Buffer;
    try {
      data = fs.readFileSync(p);
    } catch {
      continue;
    }
    if (isStaticElf(data)) return data;
    throw new UserError(`${p} is linked dynamically and the guest has no C library; install a static busybox (Debian: apt install busybox-static)`);
  }
  throw new UserError(`no busybox for the guest's initramfs (looked at ${paths.join(', ')}); install one (Debian: apt install busybox-static)`);
}

/**
 * The /init script. With `cmd`, it runs the commands and powers the machine off; without, it
 * gives a shell on the serial console (cttyhack makes /dev/ttyS0 its controlling terminal,
 * so Ctrl-C works) and powers off when the shell exits.
 */
export function initScript(cmd?: string): string {
  const run = cmd !== undefined
    ? ['sh /cmd', 'echo "box: the command exited with status $?"']
    : ['echo "box: a shell on the serial console; exit (or poweroff) ends the VM"', 'setsid cttyhack sh -l'];
  return [
    '#!/bin/busybox sh',
    '/bin/busybox --install -s /bin',
    'mount -t proc proc /proc',
    'mount -t sysfs sysfs /sys',
    'mount -t devtmpfs devtmpfs /dev 2>/dev/null',
    'hostname box-vm',
    `echo "${INIT_BANNER} (PID $$, $(cut -d" " -f1 /proc/uptime) s after the kernel started)"`,
    ...run,
    'poweroff -f',
    '',
  ].join('\n');
}

/** The initramfs for one boot. */
export function buildInitramfs(opts: { busybox: Uint8Array; cmd?: string }): Buffer {
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'tmp', 'root', 'etc'].map((d) => ({ path: d, type: 'dir' as const })),
    // The kernel opens /dev/console for init before anything is mounted on /dev.
    { path: 'dev/console', type: 'chardev', major: 5, minor: 1 },
    { path: 'bin/busybox', type: 'file', data: opts.busybox, mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', target: 'busybox' },
    { path: 'etc/profile', type: 'file', data: Buffer.from('export PS1="box-vm:\\w# "\n') },
    { path: 'init', type: 'file', data: Buffer.from(initScript(opts.cmd)), mode: 0o755 },
  ];
  if (opts.cmd !== undefined) entries.push({ path: 'cmd', type: 'file', data: Buffer.from(opts.cmd + '\n') });
  return cpioNewc(entries);
}
