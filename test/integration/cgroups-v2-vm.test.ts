// cgroup v2 with every controller, for real, on a machine whose cgroups are v1.
//
// The lab host mounts memory, cpu and pids as cgroup v1; its cgroup2 mount has no
// controllers. A v1 hierarchy gives its controller back to v2 only when it is unmounted
// with no child cgroups, and other programs on the host (other box runs, other tests) use
// those hierarchies at any moment: unmounting one under them is not safe. So this test boots
// a small Linux guest instead (qemu, a stock Debian kernel, cgroup2 only) that sees the host's
// files read-only through 9p, and runs test/integration/cgroups.test.ts inside it. There the
// same tests drive the v2 driver: memory.max and the OOM kill, pids.max and a fork bomb, cpu.max
// throttling, cgroup.kill, and the "no internal processes" rule. Then box run's own kernel tests
// (limits, OOM, pids, CPU quota, exec, user namespaces, cleanup after SIGKILL, a lab sandbox with
// containers inside) run there too: most readers' machines are cgroup v2 only.
//
// Needs root, qemu-system-x86_64 and a guest kernel: BOX_TEST_GUEST_KERNEL_ROOT names a
// directory holding boot/vmlinuz-* and lib/modules/* (an unpacked Debian linux-image
// package; default /var/cache/isolab/guest-kernel, then /). BOX_TEST_VM_ACCEL picks the
// accelerator (default tcg: nested KVM on the lab host hangs in early boot).

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { needs } from '../support/requires.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
/** Where the guest sees the checkout, whatever its path on the host (initScript binds it). */
const GUEST_REPO = '/repo';
/**
 * The guest's safety nets (test/integration/helpers.ts: TIME_SCALE) are this many times the
 * usual: under TCG on a busy 2-CPU host a start that takes 0.1 s here took 10 s and more there,
 * and the tests were killed mid-way. No assertion is about time.
 */
const TIME_SCALE = 6;
const GUEST_TEST = 'test/integration/cgroups.test.ts';
const RUNTIME_TEST = 'test/integration/runtime.test.ts';
/** The runtime tests that exercise cgroups and the start/stop path (the whole file is slow under emulation). */
const RUNTIME_IN_GUEST = 'PID 1|OOM-kills|fork bomb|throttles|exec joins|SIGKILLed, and the next|lab sandbox|userns|harmless devices';
const OCI_TEST = 'test/integration/oci-runtime.test.ts';
/** The OCI runtime's device tests: on v2 a config's rules become the eBPF device program. */
const OCI_IN_GUEST = 'linux.devices|linux.resources.devices';
/** Modules the guest kernel needs to mount the host's files, in load order (each after its dependencies). */
const MODULES = ['virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'netfs', 'fscache', '9pnet', '9pnet_virtio', '9p', 'overlay'];
/**
 * Loaded where the kernel has them as modules (in load order): loop gives a lab sandbox its
 * disk (the I/O lesson's test), and ext4 on a loop device its size-limited writable layer
 * (ext4 asks the crypto API for crc32c when it mounts: the guest has no modprobe to load it then).
 */
const OPTIONAL_MODULES = ['loop', 'crc16', 'crc32c_generic', 'mbcache', 'jbd2', 'ext4',
  // box's container networks: a bridge and veths, and the nftables rules of net/nat.ts
  // (masquerade, dnat maps, fib), each after the modules it needs.
  'libcrc32c', 'nfnetlink', 'nf_tables', 'nf_defrag_ipv4', 'nf_defrag_ipv6', 'nf_conntrack', 'nf_nat',
  'nft_chain_nat', 'nft_nat', 'nft_masq', 'nft_ct', 'nft_fib', 'nft_fib_ipv4', 'llc', 'stp', 'bridge', 'veth',
  // /dev/fuse (c 10:229), which the OCI device-rule tests open or are refused.
  'fuse'];

interface GuestKernel { vmlinuz: string; modules: Map<string, string> }

/** A kernel and the modules above, or the reason there is none. */
function findGuestKernel(): GuestKernel | string {
  const roots = [process.env.BOX_TEST_GUEST_KERNEL_ROOT, '/var/cache/isolab/guest-kernel', '/'].filter((r): r is string => !!r);
  for (const root of roots) {
    let versions: string[];
    try {
      versions = fs.readdirSync(path.join(root, 'lib/modules')).filter((v) => fs.existsSync(path.join(root, 'boot', `vmlinuz-${v}`)));
    } catch {
      continue;
    }
    for (const version of versions) {
      const found = new Map<string, string>();
      const walk = (dir: string): void => {
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
          const p = path.join(dir, e.name);
          if (e.isDirectory()) walk(p);
          else if (e.name.endsWith('.ko') && [...MODULES, ...OPTIONAL_MODULES].includes(e.name.slice(0, -3))) found.set(e.name.slice(0, -3), p);
        }
      };
      for (const sub of ['kernel/drivers/virtio', 'kernel/net/9p', 'kernel/fs', 'kernel/drivers/block', 'kernel/lib', 'kernel/crypto', 'kernel/net/netfilter', 'kernel/net/ipv4/netfilter', 'kernel/net/ipv6/netfilter', 'kernel/net/bridge', 'kernel/net/802', 'kernel/net/llc', 'kernel/drivers/net']) {
        const dir = path.join(root, 'lib/modules', version, sub);
        if (fs.existsSync(dir)) walk(dir);
      }
      if (MODULES.every((m) => found.has(m))) return { vmlinuz: path.join(root, 'boot', `vmlinuz-${version}`), modules: found };
    }
  }
  return `no guest kernel with uncompressed virtio/9p/overlay modules in ${roots.join(', ')} (unpack a Debian linux-image-*-amd64 package into /var/cache/isolab/guest-kernel)`;
}

function why(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  if (spawnSync('qemu-system-x86_64', ['--version']).status !== 0) return 'qemu-system-x86_64 is not installed (Debian package qemu-system-x86)';
  if (!fs.existsSync('/usr/bin/busybox')) return 'busybox is not installed (Debian package busybox-static)';
  const k = findGuestKernel();
  return typeof k === 'string' ? k : null;
}
const skipReason = why();

/** A "newc" cpio archive, the format the kernel unpacks an initramfs from. */
function cpio(entries: { name: string; mode: number; data?: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  [...entries, { name: 'TRAILER!!!', mode: 0 }].forEach((e, i) => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
    const fields = [i + 1, e.mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
    parts.push(header, name, pad(header.length + name.length), data, pad(data.length));
  });
  return Buffer.concat(parts);
}

/**
 * The guest's /init: mount the host's root read-only over 9p with a tmpfs overlay on top (so
 * the tests can write), give it the guest's own /proc, /sys, /dev, /tmp and a cgroup2-only
 * /sys/fs/cgroup, run the command there, print its exit status and power off.
 */
function initScript(command: string): string {
  const bb = '/bin/busybox';
  return [
    `#!${bb} sh`,
    `${bb} mkdir -p /proc /dev /lower /upper /host`,
    `${bb} mount -t proc proc /proc && ${bb} mount -t devtmpfs dev /dev`,
    `for m in ${MODULES.join(' ')}; do ${bb} insmod /modules/$m.ko || echo "GUEST: insmod $m failed"; done`,
    `for m in ${OPTIONAL_MODULES.join(' ')}; do [ -f /modules/$m.ko ] && ${bb} insmod /modules/$m.ko; done`,
    `${bb} mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /lower || echo "GUEST: 9p mount failed"`,
    `${bb} mount -t tmpfs tmp /upper && ${bb} mkdir /upper/u /upper/w`,
    `${bb} mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /host`,
    // The checkout at a fixed path, bound before anything is mounted over where it lives on the
    // host: a checkout under /tmp would otherwise vanish under the guest's own /tmp.
    `${bb} mkdir -p /host${GUEST_REPO} && ${bb} mount -o bind /host${REPO} /host${GUEST_REPO} || echo "GUEST: cannot bind the checkout at ${GUEST_REPO}"`,
    `${bb} mount -t proc proc /host/proc && ${bb} mount -t sysfs sys /host/sys && ${bb} mount -t devtmpfs dev /host/dev`,
    `${bb} mount -t tmpfs tmp /host/tmp && ${bb} mount -t cgroup2 cgroup2 /host/sys/fs/cgroup`,
    // switch_root, not chroot: it moves /host onto / so the new root is the mount namespace's
    // own root. A chrooted process may not create a user namespace (EPERM), and box --userns must.
    `exec ${bb} switch_root /host /bin/sh -c '${`(${command}); echo "GUEST-EXIT:$?"; /usr/bin/busybox poweroff -f`.replace(/'/g, `'\\''`)}'`,
    '',
  ].join('\n');
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'boxtest-vm-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
// The guest runs box from the bundle, as an installed box does (`npm test` builds it first; so
// does this file when run alone). From stale bundles box falls back to its TypeScript sources,
// and Node's type stripper (WebAssembly) under qemu's TCG now and then dies in a V8 check
// ("it->second.Size() > offset", exit 133): 7 of ~20 box runs in one guest here; 0 of 24 with the bundle.
beforeAll(() => {
  if (!skipReason) spawnSync(process.execPath, [path.join(REPO, 'runtime/scripts/build-box.ts')], { stdio: 'ignore' });
}, 120_000);

/** Boot the guest, run `vitest run <tests>` in it, and return what it printed. */
async function runInGuest(tests: string): Promise<string> {
  const kernel = findGuestKernel() as GuestKernel;
  // Output to a file, then printed whole: on the serial console (a tty) vitest would redraw
  // its lines, and kernel messages (the OOM killer's) would land in the middle of them.
  const command = `cd ${GUEST_REPO} && PATH=${GUEST_REPO}/node_modules/.bin:$PATH NO_COLOR=1 BOX_TEST_TIME_SCALE=${TIME_SCALE} vitest run ${tests} --reporter=verbose --testTimeout=${60_000 * TIME_SCALE} --hookTimeout=${120_000 * TIME_SCALE} > /tmp/guest-vitest.log 2>&1; rc=$?; cat /tmp/guest-vitest.log; exit $rc`;
  const initrd = path.join(work, 'initrd.cpio');
  fs.writeFileSync(initrd, cpio([
    { name: 'bin', mode: 0o40755 },
    { name: 'modules', mode: 0o40755 },
    { name: 'init', mode: 0o100755, data: Buffer.from(initScript(command)) },
    { name: 'bin/busybox', mode: 0o100755, data: fs.readFileSync('/usr/bin/busybox') },
    ...[...kernel.modules].map(([m, file]) => ({ name: `modules/${m}.ko`, mode: 0o100644, data: fs.readFileSync(file) })),
  ]));
  const accel = process.env.BOX_TEST_VM_ACCEL ?? 'tcg,thread=multi';
  const qemu = spawn('qemu-system-x86_64', [
    '-accel', accel, '-cpu', 'max', '-m', '2048', '-smp', '2',
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-serial', 'stdio',
    '-kernel', kernel.vmlinuz, '-initrd', initrd, '-append', 'console=ttyS0 quiet loglevel=1 panic=-1',
    // The host's files, read-only: the guest cannot change anything on the host.
    '-fsdev', 'local,id=host,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device', 'virtio-9p-pci,fsdev=host,mount_tag=hostroot',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Bytes, decoded once at the end: a chunk boundary can split a UTF-8 character (vitest's ✓).
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  qemu.stdout.on('data', (d: Buffer) => stdout.push(d));
  qemu.stderr.on('data', (d: Buffer) => stderr.push(d));
  const timer = setTimeout(() => qemu.kill('SIGKILL'), 900_000);
  await new Promise((resolve) => qemu.on('exit', resolve));
  clearTimeout(timer);
  const out = Buffer.concat(stdout).toString('utf8') + Buffer.concat(stderr).toString('utf8');
  if (process.env.BOX_TEST_GUEST_LOG) fs.writeFileSync(process.env.BOX_TEST_GUEST_LOG, out);
  return out.replace(/\r/g, '');
}

/**
 * Every test the guest ran passed and none failed; none skipped either, unless `filtered`
 * (a -t filter skips the tests it does not name: their count must then be `filtered`).
 */
function expectAllPassed(guest: string, show: string, filtered = 0): string {
  expect(guest, show).toContain('GUEST-EXIT:0');
  const summary = /Tests\s+(\d+) passed(?: \| (\d+) skipped)? \((\d+)\)/.exec(guest);
  expect(summary, show).not.toBeNull();
  const [, passed, skipped, total] = summary!;
  expect(Number(skipped ?? 0), show).toBe(filtered);
  expect(Number(passed) + filtered, show).toBe(Number(total)); // nothing failed
  return summary![0];
}

needs(skipReason).it(
  'the cgroup integration tests pass on a v2-only kernel with memory, cpu and pids (a qemu guest)',
  async () => {
    const guest = await runInGuest(GUEST_TEST);
    const show = `guest output:\n${guest.slice(-6000)}`;
    // The guest used the v2 driver with all three controllers, and skipped nothing.
    // io and cpuset too where the guest's kernel offers them (V2_OPTIONAL).
    expect(guest, show).toMatch(/limits on the real kernel \(cgroup v2 at \/sys\/fs\/cgroup \(memory, cpu, pids(, (io|cpuset))*\)\)/);
    for (const name of ['is OOM-killed and oomKills counts 1', 'stops a fork bomb', 'throttles a busy loop', 'no internal processes']) {
      expect(guest, show).toMatch(new RegExp(`✓ .*${name}`));
    }
    console.log(`guest (${/Linux version (\S+)/.exec(guest)?.[1] ?? 'kernel'}): ${expectAllPassed(guest, show)}`);
  },
  600_000,
);

needs(skipReason).it(
  'box run passes its kernel tests on a v2-only kernel: limits, OOM, pids, CPU quota, exec, cleanup (a qemu guest)',
  async () => {
    // The user-facing behaviour of box on a cgroup v2 host, where most readers' machines are.
    const guest = await runInGuest(process.env.BOX_TEST_GUEST_TESTS ?? `${RUNTIME_TEST} -t "${RUNTIME_IN_GUEST}"`);
    const show = `guest output:\n${guest.slice(-6000)}`;
    for (const name of ['OOM-kills a memory hog', 'stops a fork bomb', 'throttles a busy loop', 'exec joins its namespaces']) {
      expect(guest, show).toMatch(new RegExp(`✓ .*${name}`));
    }
    const names = RUNTIME_IN_GUEST.split('|').length;
    // vitest's verbose line, with its project's name since vitest.config.ts has projects.
    const ran = (guest.match(/^ ✓ (?:\|integration\| )?test\/integration\/runtime\.test\.ts/gm) ?? []).length;
    expect(ran, show).toBeGreaterThanOrEqual(names); // every pattern matched at least one test
    const total = Number(/Tests\s+.*\((\d+)\)/.exec(guest)?.[1] ?? 0);
    console.log(`guest, box run: ${expectAllPassed(guest, show, total - ran)}`);
  },
  960_000,
);

needs(skipReason).it(
  'box as an OCI runtime makes linux.devices and applies a config\'s device rules on a v2-only kernel: the eBPF program (a qemu guest)',
  async () => {
    const guest = await runInGuest(`${OCI_TEST} -t "${OCI_IN_GUEST}"`);
    const show = `guest output:\n${guest.slice(-6000)}`;
    for (const name of ['linux.devices: the nodes are made', 'linux.devices in a user namespace', 'linux.resources.devices: the config\'s rules in order']) {
      expect(guest, show).toMatch(new RegExp(`✓ .*${name}`));
    }
    const ran = (guest.match(/^ ✓ (?:\|integration\| )?test\/integration\/oci-runtime\.test\.ts.*(linux\.devices|linux\.resources\.devices)/gm) ?? []).length;
    expect(ran, show).toBe(3);
    const total = Number(/Tests\s+.*\((\d+)\)/.exec(guest)?.[1] ?? 0);
    console.log(`guest, OCI devices: ${expectAllPassed(guest, show, total - ran)}`);
  },
  960_000,
);
