// The pieces `box vm linux` builds before the first KVM_RUN, checked against the formats'
// own readers where one exists: the initramfs unpacked by busybox cpio, the PVH start info
// and e820 map read back field by field, the CPUID the guest is given, the UART's interrupt
// line as Linux's driver drives it. The boot itself is tested in test/integration/vmm-linux.test.ts.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cpioNewc } from '../../runtime/src/vmm/linux/cpio.ts';
import { buildInitramfs, initScript, isStaticElf } from '../../runtime/src/vmm/linux/initramfs.ts';
import { buildE820, E820_RAM, E820_RESERVED, formatE820 } from '../../runtime/src/vmm/linux/e820.ts';
import { HVM_START_MAGIC, initrdAddress, LAYOUT, MEMMAP_ENTRY_SIZE, START_INFO, writePvhStartInfo } from '../../runtime/src/vmm/linux/pvh.ts';
import { cpuidRegister, guestCpuid } from '../../runtime/src/vmm/linux/cpuid.ts';
import { bzImagePayload, parseVmlinux } from '../../runtime/src/vmm/linux/kernel-image.ts';
import { instructionName, linuxExitStatus, hostLimitSentence } from '../../runtime/src/vmm/linux/report.ts';
import { StageWatcher } from '../../runtime/src/vmm/linux/stages.ts';
import { Uart8250, COM1 } from '../../runtime/src/vmm/devices/uart8250.ts';
import { CmosRtc } from '../../runtime/src/vmm/devices/cmos-rtc.ts';
import { parseMem } from '../../runtime/src/cli/vm-command.ts';
import { needs } from '../support/requires.ts';

const BOX_GUEST_KERNEL_BOOT = process.env.BOX_TEST_GUEST_KERNEL_ROOT ? path.join(process.env.BOX_TEST_GUEST_KERNEL_ROOT, 'boot') : '/var/cache/isolab/guest-kernel/boot';

const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
const busyboxReason = !busybox && 'no busybox (apt-get install busybox-static)';

describe('cpio newc writer', () => {
  it('writes the 110-byte header, the name padded to 4, the data padded to 4, and the trailer', () => {
    const a = cpioNewc([{ path: 'init', type: 'file', data: Buffer.from('hello'), mode: 0o755 }]);
    const text = a.toString('latin1');
    expect(text.slice(0, 6)).toBe('070701');
    const field = (i: number) => parseInt(text.slice(6 + i * 8, 14 + i * 8), 16);
    expect(field(1)).toBe(0o100755); // mode: regular file, rwxr-xr-x
    expect(field(6)).toBe(5); // filesize
    expect(field(11)).toBe(5); // namesize: "init" and its NUL
    expect(text.slice(110, 115)).toBe('init\0');
    // 110 + 5 = 115, padded to 116; the data at 116, 5 bytes, padded to 124
    expect(text.slice(116, 121)).toBe('hello');
    expect(text.slice(124, 130)).toBe('070701');
    expect(text).toContain('TRAILER!!!\0');
    expect(a.length % 4).toBe(0);
  });

  it('refuses paths that climb out and numbers that do not fit', () => {
    expect(() => cpioNewc([{ path: '../etc/passwd', type: 'dir' }])).toThrow(/bad path/);
    expect(() => cpioNewc([{ path: 'x', type: 'chardev', major: 2 ** 33, minor: 0 }])).toThrow(/does not fit/);
  });

  needs(busyboxReason).it('busybox cpio unpacks box\'s initramfs: /init, busybox, the sh link, the console node listed', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmm-cpio-'));
    try {
      const archive = buildInitramfs({ busybox: Uint8Array.from(Buffer.from('#!fake busybox\n')), cmd: 'echo hi; uname -r' });
      const list = spawnSync(busybox!, ['cpio', '-t', '-v'], { input: archive, encoding: 'utf8' });
      expect(list.status).toBe(0);
      expect(list.stdout).toMatch(/^crw------- .* dev\/console$/m);
      expect(list.stdout).toMatch(/^lrwxrwxrwx .* bin\/sh -> busybox$/m);
      // Unpack everything but the device node (mknod needs privileges a test may not have).
      const r = spawnSync(busybox!, ['cpio', '-i', '-d', '-m', 'init', 'cmd', 'bin/busybox', 'bin/sh', 'etc/profile'], { input: archive, cwd: dir });
      expect(r.status).toBe(0);
      expect(fs.readFileSync(path.join(dir, 'init'), 'utf8')).toBe(initScript('echo hi; uname -r'));
      expect(fs.statSync(path.join(dir, 'init')).mode & 0o777).toBe(0o755);
      expect(fs.readFileSync(path.join(dir, 'cmd'), 'utf8')).toBe('echo hi; uname -r\n');
      expect(fs.readlinkSync(path.join(dir, 'bin/sh'))).toBe('busybox');
      expect(fs.readFileSync(path.join(dir, 'bin/busybox'), 'utf8')).toBe('#!fake busybox\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('/init runs the commands and powers off; without --cmd it gives a shell on the console', () => {
    const withCmd = initScript('uname -r');
    expect(withCmd).toMatch(/^#!\/bin\/busybox sh\n/);
    expect(withCmd).toMatch(/sh \/cmd\necho "box: the command exited with status \$\?"\npoweroff -f\n$/);
    expect(initScript()).toMatch(/setsid cttyhack sh -l\npoweroff -f\n$/);
  });

  needs(busyboxReason).it('knows a static ELF from a dynamic one', () => {
    expect(isStaticElf(fs.readFileSync(busybox!))).toBe(true);
    expect(isStaticElf(fs.readFileSync(process.execPath))).toBe(false); // node: dynamically linked
    expect(isStaticElf(Buffer.from('#!/bin/sh\n'))).toBe(false);
  });
});

describe('e820 map', () => {
  it('RAM below 640 KiB less the EBDA, the holes reserved, RAM from 1 MiB to the end', () => {
    const map = buildE820(256 * 1024 * 1024);
    expect(map.map(formatE820)).toEqual([
      '[mem 0x0000000000000000-0x000000000009fbff] usable',
      '[mem 0x000000000009fc00-0x00000000000fffff] reserved',
      '[mem 0x0000000000100000-0x000000000fffffff] usable',
    ]);
    // No overlaps, in order.
    for (let i = 1; i < map.length; i++) expect(map[i].addr).toBeGreaterThanOrEqual(map[i - 1].addr + map[i - 1].size);
    expect(map.filter((e) => e.type === E820_RAM).reduce((a, e) => a + e.size, 0)).toBe(256 * 1024 * 1024 - 0x100000 + 0x9fc00);
    expect(map.filter((e) => e.type === E820_RESERVED)).toHaveLength(1);
  });

  it('refuses sizes that are too small or reach the device memory below 4 GiB', () => {
    expect(() => buildE820(1024 * 1024)).toThrow(/between 2 MiB/);
    expect(() => buildE820(4 * 1024 * 1024 * 1024)).toThrow(/between 2 MiB and 3072 MiB/);
  });
});

describe('PVH start info', () => {
  it('hvm_start_info version 1 at its address, with the memory map, the initramfs module and the command line', () => {
    const ram = new Uint8Array(1024 * 1024);
    const e820 = buildE820(64 * 1024 * 1024);
    const at = writePvhStartInfo(ram, { cmdline: 'console=ttyS0', e820, initrd: { addr: 0x3f00000, size: 12345 } });
    const b = Buffer.from(ram.buffer);
    expect(at).toBe(LAYOUT.startInfo);
    expect(START_INFO.size).toBe(56);
    expect(b.readUInt32LE(at + START_INFO.magic)).toBe(HVM_START_MAGIC);
    expect(b.readUInt32LE(at + START_INFO.version)).toBe(1);
    expect(b.readUInt32LE(at + START_INFO.nr_modules)).toBe(1);
    expect(b.readBigUInt64LE(at + START_INFO.rsdp_paddr)).toBe(0n);
    const cmd = Number(b.readBigUInt64LE(at + START_INFO.cmdline_paddr));
    expect(b.toString('latin1', cmd, cmd + 14)).toBe('console=ttyS0\0');
    const mod = Number(b.readBigUInt64LE(at + START_INFO.modlist_paddr));
    expect([b.readBigUInt64LE(mod), b.readBigUInt64LE(mod + 8), b.readBigUInt64LE(mod + 16)]).toEqual([0x3f00000n, 12345n, 0n]);
    const map = Number(b.readBigUInt64LE(at + START_INFO.memmap_paddr));
    expect(b.readUInt32LE(at + START_INFO.memmap_entries)).toBe(e820.length);
    const read = e820.map((_, i) => ({
      addr: Number(b.readBigUInt64LE(map + i * MEMMAP_ENTRY_SIZE)),
      size: Number(b.readBigUInt64LE(map + i * MEMMAP_ENTRY_SIZE + 8)),
      type: b.readUInt32LE(map + i * MEMMAP_ENTRY_SIZE + 16),
    }));
    expect(read).toEqual(e820);
    // The structures lie in RAM the map calls usable, below the kernel at 16 MiB.
    for (const p of [at, mod, map, cmd]) expect(e820.some((e) => e.type === E820_RAM && p >= e.addr && p + 64 <= e.addr + e.size)).toBe(true);
  });

  it('puts the initramfs page-aligned at the top of RAM', () => {
    const e820 = buildE820(256 * 1024 * 1024);
    const at = initrdAddress(e820, 5000);
    expect(at % 4096).toBe(0);
    expect(at + 5000).toBeLessThanOrEqual(256 * 1024 * 1024);
    expect(256 * 1024 * 1024 - at).toBeLessThan(5000 + 4096);
  });
});

describe('the guest CPUID', () => {
  // A kvm_cpuid2 with leaf 1 (everything set), leaf 7.0 (everything set) and leaf 0xd.
  const supported = () => {
    const leaves = [[1, 0], [7, 0], [0xd, 0], [0xd, 1]];
    const b = Buffer.alloc(8 + leaves.length * 40);
    b.writeUInt32LE(leaves.length, 0);
    leaves.forEach(([leaf, index], i) => {
      b.writeUInt32LE(leaf, 8 + i * 40);
      b.writeUInt32LE(index, 8 + i * 40 + 4);
      for (let r = 0; r < 4; r++) b.writeUInt32LE(0xffffffff, 8 + i * 40 + 12 + r * 4);
    });
    return b;
  };

  it('emulable hides XSAVE, AVX and CMPXCHG16B and empties leaf 0xd; keeps the rest', () => {
    const { cpuid, hidden } = guestCpuid(supported(), 'emulable');
    const ecx1 = cpuidRegister(cpuid, 1, 0, 'ecx')!;
    for (const bit of [13, 26, 27, 28]) expect((ecx1 >>> bit) & 1).toBe(0); // CX16 XSAVE OSXSAVE AVX
    for (const bit of [0, 9, 19, 20]) expect((ecx1 >>> bit) & 1).toBe(1); // SSE3 SSSE3 SSE4.1 SSE4.2 stay
    expect((cpuidRegister(cpuid, 7, 0, 'ebx')! >>> 5) & 1).toBe(0); // AVX2
    expect((cpuidRegister(cpuid, 7, 0, 'ebx')! >>> 0) & 1).toBe(1); // FSGSBASE stays
    expect(cpuidRegister(cpuid, 0xd, 0, 'eax')).toBe(0);
    expect(cpuidRegister(cpuid, 0xd, 1, 'eax')).toBe(0);
    expect(hidden).toMatch(/XSAVE.*CMPXCHG16B.*AVX2/);
  });

  it('host passes the supported CPUID through as it is', () => {
    const s = supported();
    expect(guestCpuid(s, 'host').cpuid.equals(s)).toBe(true);
  });
});

describe('the 8250 UART with interrupts, as Linux drives it', () => {
  const ctx = { console() {} } as never;
  it('raises the line for "THR empty" when enabled, drops it when IIR reports it', () => {
    const levels: boolean[] = [];
    const uart = new Uart8250(COM1, (l) => levels.push(l));
    uart.write(COM1 + 1, 1, 0x02, ctx); // IER: THR empty
    expect(levels).toEqual([true]);
    expect(uart.read(COM1 + 2, 1)).toBe(0x02); // IIR: THR empty pending
    expect(levels).toEqual([true, false]);
    expect(uart.read(COM1 + 2, 1)).toBe(0x01); // acknowledged: none pending
    uart.write(COM1, 1, 0x41, ctx); // a byte sent: THR empty again
    expect(levels).toEqual([true, false, true]);
  });

  it('received bytes: LSR data ready, a "data received" interrupt, read from RBR in order', () => {
    const levels: boolean[] = [];
    const uart = new Uart8250(COM1, (l) => levels.push(l));
    uart.write(COM1 + 1, 1, 0x01, ctx); // IER: data received
    expect(levels).toEqual([]);
    uart.receive(Buffer.from('ls'));
    expect(levels).toEqual([true]);
    expect(uart.read(COM1 + 5, 1) & 0x01).toBe(1);
    expect(uart.read(COM1 + 2, 1)).toBe(0x04);
    expect(String.fromCharCode(uart.read(COM1, 1), uart.read(COM1, 1))).toBe('ls');
    expect(levels).toEqual([true, false]);
    expect(uart.read(COM1 + 5, 1) & 0x01).toBe(0);
  });
});

describe('the CMOS clock', () => {
  it('answers the time in BCD and says no update is in progress', () => {
    const rtc = new CmosRtc(() => new Date(Date.UTC(2025, 10, 23, 21, 47, 59)));
    const reg = (i: number) => {
      rtc.write(0x70, 1, i);
      return rtc.read(0x71);
    };
    expect([reg(0x00), reg(0x02), reg(0x04), reg(0x07), reg(0x08), reg(0x09), reg(0x32)]).toEqual([0x59, 0x47, 0x21, 0x23, 0x11, 0x25, 0x20]);
    expect(reg(0x0a) & 0x80).toBe(0); // UIP clear
    expect(reg(0x8b)).toBe(0x02); // NMI-mask bit ignored; 24-hour BCD
  });
});

describe('boot stages, stop reports, options', () => {
  it('stages are read from console lines, once each, even split across chunks', () => {
    const w = new StageWatcher();
    expect(w.feed(Buffer.from('[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel'), 1, 2)).toEqual([]);
    const got = w.feed(Buffer.from('@lists.debian.org)\n[    0.000000] BIOS-e820: [mem 0x0-0x9fbff] usable\nBIOS-e820: [mem 0x100000-0xfffffff] usable\n'), 3, 4);
    expect(got.map((r) => r.stage.name)).toEqual(['Linux version', 'e820 map']);
    expect(w.furthest()?.stage.name).toBe('e820 map');
    expect(w.reached[0].text).toMatch(/^\[ +0\.000000\] Linux version 6\.1\.0-56-amd64/);
  });

  it('stages are found when the console arrives one byte at a time, as the UART delivers it', () => {
    const w = new StageWatcher();
    for (const b of Buffer.from('[    0.000000] Linux version 6.1.0-56-amd64 (x)\r\nnext')) w.feed(Uint8Array.of(b), 1, 2);
    expect(w.reached.map((r) => r.stage.name)).toEqual(['Linux version']);
    expect(w.reached[0].text).toBe('[    0.000000] Linux version 6.1.0-56-amd64 (x)');
  });

  it('names the instructions an emulating KVM stops Linux on', () => {
    expect(instructionName(Uint8Array.from([0xf0, 0x48, 0x0f, 0xc7, 0x4d, 0x20]))).toBe('lock cmpxchg16b');
    expect(instructionName(Uint8Array.from([0x48, 0x0f, 0xae, 0x6f, 0x40]))).toBe('xrstor');
    expect(instructionName(Uint8Array.from([0xc5, 0xfc, 0x77]))).toMatch(/AVX/);
    expect(instructionName(Uint8Array.from([0xcc, 0x90]))).toBe('int3');
    expect(instructionName(Uint8Array.from([0x90]))).toBeUndefined();
  });

  it('the report blames the host only on a host that emulates, and never for a power-off', () => {
    expect(hostLimitSentence({ kind: 'stalled', ms: 1 }, true)).toMatch(/nested KVM is the limit/);
    expect(hostLimitSentence({ kind: 'stalled', ms: 1 }, false)).not.toMatch(/nested/);
    expect(hostLimitSentence({ kind: 'poweroff' }, true)).toBeUndefined();
  });

  it('exit status: the command\'s own after power-off, 124 for a stall, 1 for a crash', () => {
    const base = { stages: [], exits: 0, byReason: new Map(), byDevice: new Map(), guestNs: 0, wallNs: 0, lastExits: [] } as never as Parameters<typeof linuxExitStatus>[0];
    const w = new StageWatcher();
    w.feed(Buffer.from('box: the command exited with status 3\n'), 0, 0);
    expect(linuxExitStatus({ ...base, stop: { kind: 'poweroff' }, stages: w.reached })).toBe(3);
    expect(linuxExitStatus({ ...base, stop: { kind: 'poweroff' } })).toBe(0);
    expect(linuxExitStatus({ ...base, stop: { kind: 'stalled', ms: 5 } })).toBe(124);
    expect(linuxExitStatus({ ...base, stop: { kind: 'internal-error', suberror: 1, description: '' } })).toBe(1);
  });

  it('--mem sizes', () => {
    expect(parseMem('256m')).toBe(256 * 1024 * 1024);
    expect(parseMem('1G')).toBe(1024 * 1024 * 1024);
    expect(parseMem('300')).toBe(300 * 1024 * 1024);
    expect(() => parseMem('64m')).toThrow(/from 128m to 3g/);
    expect(() => parseMem('lots')).toThrow(/--mem 'lots'/);
  });
});

/** A Debian bzImage: the guest kernel .ci/run unpacks, else the host's own. */
const kernel = [BOX_GUEST_KERNEL_BOOT, '/boot'].flatMap((dir) => {
  try {
    return fs.readdirSync(dir).filter((n) => /^vmlinuz-/.test(n)).map((n) => path.join(dir, n));
  } catch {
    return [];
  }
}).find((p) => { try { fs.accessSync(p, fs.constants.R_OK); return true; } catch { return false; } });
const hasXz = spawnSync('xz', ['--version']).status === 0;

needs(!kernel && `no readable bzImage in ${BOX_GUEST_KERNEL_BOOT} or /boot (.ci/run unpacks Debian's linux-image package there)`,
  !hasXz && 'xz is not installed (apt-get install xz-utils)').describe('a real bzImage', () => {
  it('the payload the boot protocol header points at is an xz stream, and the vmlinux inside has a PVH entry', () => {
    const payload = bzImagePayload(fs.readFileSync(kernel!))!;
    expect(Buffer.from(payload.subarray(0, 6)).toString('hex')).toBe('fd377a585a00');
    const xz = spawnSync('xz', ['-dc', '--single-stream'], { input: payload, maxBuffer: 1 << 30 });
    const { segments, pvhEntry } = parseVmlinux(xz.stdout);
    expect(segments.length).toBeGreaterThan(1);
    expect(segments[0].paddr).toBe(0x1000000); // 16 MiB, CONFIG_PHYSICAL_START
    expect(pvhEntry).toBeGreaterThan(0x1000000);
    expect(pvhEntry).toBeLessThan(segments[0].paddr + segments[0].memsz);
  });
});
