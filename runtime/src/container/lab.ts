// A lab sandbox: the container each reader's terminal runs in. Root inside is an
// unprivileged uid outside (user namespace), with every capability *inside* so the reader
// can make namespaces, mounts, cgroups and containers of their own; the host's /usr is
// there read-only (the usual tools), box itself too, and /dev/kvm for the hypervisor lessons.
// What a capability in a user namespace allows is checked against the namespaces it owns:
// the host's files, processes and network are owned by the host's, out of reach.

import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { RunConfig } from './config.ts';
import { invocation } from '../sys/invocation.ts';
import { BOX_HOME as boxHome } from '../home.ts';


export function applyLab(cfg: RunConfig): RunConfig {
  const volumes = [
    { host: '/usr', container: '/usr', readOnly: true },
    { host: path.join(boxHome, 'runtime'), container: '/opt/box/runtime', readOnly: true },
    { host: path.join(boxHome, 'node_modules'), container: '/opt/box/node_modules', readOnly: true },
    { host: path.join(boxHome, 'package.json'), container: '/opt/box/package.json', readOnly: true },
    // Debian's tools reach many commands through /etc/alternatives symlinks (which, editor...).
    ...['/etc/alternatives', '/etc/ld.so.cache'].filter((p) => fs.existsSync(p))
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
    seccomp: false,
    // box inside makes its cgroups at <sandbox>/box, beside the leaf the sandbox lives in.
    env: ['BOX_LAB=1', 'BOX_CGROUP_PARENT=/box', ...cfg.env],
  };
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
// it with blkio/io like any disk. It goes with the sandbox: removeContainerFiles detaches it.

const LAB_DISK_FILE = 'lab-disk.img';
const LAB_DISK_BYTES = 64 * 1024 * 1024;

/** The config with the sandbox's own loop device added, or unchanged (and a note) where the host has none. */
export function withLabDisk(cfg: RunConfig, dir: string): RunConfig {
  detachLoops((backing) => backing.includes(`/${LAB_DISK_FILE} (deleted)`)); // sandboxes whose box was killed
  const image = path.join(dir, LAB_DISK_FILE);
  try {
    fs.writeFileSync(image, '');
    fs.truncateSync(image, LAB_DISK_BYTES); // sparse: takes disk space only as it is written
    const loop = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    return { ...cfg, devices: [...cfg.devices, loop] };
  } catch (err) {
    const why = ((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n').pop();
    invocation().stderr(`box: note: the sandbox gets no loop device (${why})\n`);
    fs.rmSync(image, { force: true });
    return cfg;
  }
}

/** Detach the loop devices whose backing file is in `dir` (a container's directory). */
export function detachLabDisks(dir: string): void {
  detachLoops((backing) => backing === path.join(dir, LAB_DISK_FILE));
}

/** Every attached loop device whose backing file (as /sys/block/loopN/loop/backing_file shows it) matches. */
function detachLoops(match: (backing: string) => boolean): void {
  let names: string[];
  try {
    names = fs.readdirSync('/sys/block').filter((n) => /^loop\d+$/.test(n));
  } catch {
    return;
  }
  for (const name of names) {
    let backing: string;
    try {
      backing = fs.readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim();
    } catch {
      continue; // not attached
    }
    if (!match(backing)) continue;
    // Busy (still open)? The kernel then detaches it on the last close (autoclear).
    try {
      execFileSync('losetup', ['-d', `/dev/${name}`], { stdio: 'ignore' });
    } catch {
      /* gone already */
    }
  }
}
