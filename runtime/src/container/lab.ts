// A lab sandbox: the container each reader's terminal runs in. Root inside is an
// unprivileged uid outside (user namespace), with every capability *inside* so the reader
// can make namespaces, mounts, cgroups and containers of their own; the host's /usr is
// there read-only (the usual tools), box itself too, and /dev/kvm for the hypervisor lessons.
// What a capability in a user namespace allows is checked against the namespaces it owns:
// the host's files, processes and network are owned by the host's, out of reach.

import fs from 'node:fs';
import path from 'node:path';
import type { RunConfig } from './config.ts';
import type { Sys } from '../sys/sys.ts';
import { invocation } from '../sys/invocation.ts';
import { BOX_HOME as boxHome } from '../home.ts';


/** A lab sandbox's disk when `--storage-opt size` is not given. */
export const LAB_DEFAULT_DISK_BYTES = 1024 * 1024 * 1024;

export function applyLab(cfg: RunConfig): RunConfig {
  const volumes = [
    { host: '/usr', container: '/usr', readOnly: true },
    { host: path.join(boxHome, 'runtime'), container: '/opt/box/runtime', readOnly: true },
    { host: path.join(boxHome, 'node_modules'), container: '/opt/box/node_modules', readOnly: true },
    { host: path.join(boxHome, 'package.json'), container: '/opt/box/package.json', readOnly: true },
    // Debian's tools reach many commands through /etc/alternatives symlinks (which, editor...);
    // podman (the engine lesson runs it with box as its runtime) needs its image policy and
    // registry list: those two files only, not the folder (an admin may keep auth.json there).
    // openssl reads /usr/lib/ssl/openssl.cnf, a symlink to /etc/ssl/openssl.cnf (`box cluster up`
    // makes its API server's certificate with it).
    ...['/etc/alternatives', '/etc/ld.so.cache', '/etc/containers/policy.json', '/etc/containers/registries.conf', '/etc/ssl/openssl.cnf']
      .filter((p) => fs.existsSync(p))
      .map((p) => ({ host: p, container: p, readOnly: true })),
    // Kernels for `box vm linux`: the course's guest kernel, and the host's own images (only
    // the vmlinuz files: /boot's initrds may hold keys). A 0600 image stays unreadable inside.
    ...guestKernels().map((p) => ({ host: p, container: p, readOnly: true })),
    ...cfg.volumes,
  ];
  const devices = [...cfg.devices];
  if (fs.existsSync('/dev/kvm') && !devices.includes('/dev/kvm')) devices.push('/dev/kvm');
  return {
    ...cfg,
    userns: true,
    namespaces: [...new Set([...cfg.namespaces, 'pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup'] as const)],
    volumes,
    devices,
    // Everything the reader writes lands on a filesystem of this size (disk.ts).
    diskBytes: cfg.diskBytes ?? LAB_DEFAULT_DISK_BYTES,
    // Not Docker's filter (lessons may mount, unshare, nest box): the lab's own, which only
    // keeps the sandbox's loop device where box put it (build-plan.ts, lab-seccomp.ts).
    seccomp: false,
    // box inside makes its cgroups at <sandbox>/box, beside the leaf the sandbox lives in.
    env: ['BOX_LAB=1', 'BOX_CGROUP_PARENT=/box', ...cfg.env],
  };
}

/**
 * The size of the tmpfs box inside keeps its images and containers in (/var/lib/box: an
 * overlay's upper layer cannot be another overlay). tmpfs pages count against the sandbox's
 * memory limit: at most half of it, so a full store says "No space left on device" instead of
 * the OOM killer ending the reader's shell.
 */
export function labStoreBytes(cfg: RunConfig): number {
  const most = 2 * 1024 ** 3;
  return cfg.memoryBytes ? Math.min(most, Math.floor(cfg.memoryBytes / 2)) : most;
}

function guestKernels(): string[] {
  const found = ['/var/cache/isolab/guest-kernel'].filter((p) => fs.existsSync(p));
  try {
    found.push(...fs.readdirSync('/boot').filter((f) => f.startsWith('vmlinuz-')).map((f) => `/boot/${f}`));
  } catch {
    /* no /boot */
  }
  return found;
}

// ---- The lab's disk: a loop device the sandbox may throttle -------------------------------
// A block device is a machine-wide object, and a user namespace may not make one: losetup
// needs /dev/loop-control and mknod, both refused to the sandbox's root. So box, real root on
// the host, attaches a loop device over a sparse file in the sandbox's own directory and
// passes its node in (a node of the sandbox's own, as /dev/kvm), where the reader can throttle
// it with blkio/io like any disk.
//
// The sandbox may not re-point it: the loop ioctls check no capability, only that the device
// is open for writing, so the lab's seccomp filter refuses them (security/lab-seccomp.ts).
// It goes with the sandbox: box records what it attached (the backing file's device and
// inode, in <container>/loops.json, written before the attach so that a box killed at any
// moment leaves a record), and removeContainerFiles, or the reaper after a SIGKILL, detaches
// every loop device backed by that file, whatever its name or path now.

const LAB_DISK_FILE = 'lab-disk.img';
const LAB_DISK_BYTES = 64 * 1024 * 1024;
const LOOPS_FILE = 'loops.json';

interface LoopRecord {
  /** The backing file as the kernel's LOOP_GET_STATUS64 reports it: "major:minor:inode". */
  backing: string;
  /** The device it got, once attached. */
  device?: string;
}

/** The config with the sandbox's own loop device added, or unchanged (and a note) where the host has none. */
export function withLabDisk(sys: Sys, cfg: RunConfig, dir: string): RunConfig {
  const image = path.join(dir, LAB_DISK_FILE);
  const record = path.join(dir, LOOPS_FILE);
  try {
    fs.writeFileSync(image, '', { mode: 0o600 });
    fs.truncateSync(image, LAB_DISK_BYTES); // sparse: takes disk space only as it is written
    const st = fs.statSync(image);
    const backing = `${major(st.dev)}:${minor(st.dev)}:${st.ino}`;
    writeRecords(record, [{ backing }]);
    const loop = sys.attachLoop(image);
    writeRecords(record, [{ backing, device: loop }]);
    return { ...cfg, devices: [...cfg.devices, loop] };
  } catch (err) {
    const why = ((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n').pop();
    invocation().stderr(`box: note: the sandbox gets no loop device (${why})\n`);
    detachLabDisks(sys, dir);
    fs.rmSync(image, { force: true });
    fs.rmSync(record, { force: true });
    return cfg;
  }
}

/** Detach every loop device backed by a file box attached for the container in `dir`. */
export function detachLabDisks(sys: Sys, dir: string): void {
  let records: LoopRecord[];
  try {
    records = JSON.parse(fs.readFileSync(path.join(dir, LOOPS_FILE), 'utf8')) as LoopRecord[];
  } catch {
    return; // box attached nothing for it
  }
  const ours = new Set(records.map((r) => r.backing));
  for (const loop of sys.loops()) if (ours.has(loop.backing)) sys.detachLoop(loop.device);
}

function writeRecords(file: string, records: LoopRecord[]): void {
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(records));
  fs.renameSync(`${file}.tmp`, file);
}

// dev_t as glibc's major() and minor() split it.
const major = (dev: number) => (Math.floor(dev / 256) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
const minor = (dev: number) => (dev & 0xff) | (Math.floor(dev / 4096) & ~0xff);
