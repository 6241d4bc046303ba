// The container's root filesystem, as plan ops for box-init. In order:
//   1. make every mount private, so nothing we mount propagates back to the host;
//   2. the image's layers, read-only, under a writable upper directory (overlayfs);
//   3. volumes, /proc, /dev, /sys, onto the new root while the host's paths are still visible;
//   4. mask what a container must not read, make read-only what it must not write;
//   5. pivot_root into it and detach the old root (or chroot, for the lesson on why not).

import { inInitialUserns } from '../ns/namespaces.ts';
import fs from 'node:fs';
import path from 'node:path';
import {
  MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT,
} from '../sys/constants.ts';
import { NotFoundError, UserError } from '../sys/errors.ts';
import type { Plan } from '../init/plan.ts';
import { mountHolding, readMountinfo } from '../sys/mountinfo.ts';

export interface Volume {
  host: string;
  container: string;
  readOnly: boolean;
  /** Its place among the tmpfs mounts (an OCI config's mounts, which MUST be made in their listed order). */
  order?: number;
  /** MS_BIND alone (an OCI config's "bind"): the mounts below the source are not bound with it. Default: rbind. */
  recursive?: boolean;
  /** An OCI config's propagation options (MS_SHARED, MS_SLAVE | MS_REC...), each set by a mount(2) of its own after the bind. */
  propagation?: number[];
  /** nosuid, nodev, noexec: a bind takes none of its flags, so they are set by a remount, as ro. */
  flags?: number;
}

/** A node to make in the container's /dev (an OCI config's linux.devices, checked in oci/devices.ts). */
export interface DeviceNode {
  /** Where, as the container sees it: /dev/... */
  path: string;
  type: 'c' | 'b' | 'p';
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
  /** In a user namespace, where mknod is refused: the host's node to bind instead. */
  bind?: string;
}

export interface RootfsSpec {
  /** Mount point of the merged root (an empty directory). */
  rootfs: string;
  /** Unpacked image layers, lowest first. */
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
  readOnly: boolean;
  volumes: Volume[];
  chroot: boolean;
  /** Hide the /proc and /sys files runc masks. Off in lab sandboxes, whose readers mount /proc again. */
  maskPaths: boolean;
  /** Extra device nodes to pass through, e.g. /dev/kvm. */
  devices: string[];
  /** Nodes to make in its /dev (an OCI config's linux.devices). */
  nodes?: DeviceNode[];
  /** tmpfs mounts, e.g. the lab's /var/lib/box (overlayfs cannot be the upper layer of another overlay). */
  tmpfs?: { path: string; options: string; flags?: number; order?: number }[];
  /**
   * The container's own cgroup directories, bound at /sys/fs/cgroup/<name> (v1) or at
   * /sys/fs/cgroup (v2, name ''): a lab sandbox manages cgroups below its own.
   */
  cgroupMounts?: { name: string; host: string }[];
  /** The root is a directory used as it is (an OCI bundle's root.path), not an overlay of lowerDirs. */
  given?: boolean;
  /** With maskPaths: these lists instead of runc's defaults (an OCI config's linux.maskedPaths and readonlyPaths). */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /**
   * Kernel parameters of the container's own namespaces (an OCI config's linux.sysctl, checked
   * in oci/bundle.ts), written into its /proc/sys while that is still writable.
   */
  sysctl?: Record<string, string>;
  /**
   * The propagation of the container's "/" (an OCI config's linux.rootfsPropagation:
   * MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE, maybe with MS_REC), set after
   * pivot_root: it applies to the mount that is "/" then. Peers are only inside the container's
   * mount namespace: every mount was made private when it was created.
   */
  rootPropagation?: number;
  /**
   * No mount namespace of the container's own (an OCI config without one): the mounts are
   * made in the host's, below the root's bind, which is made private first; chroot, since
   * pivot_root would move the host's own root (oci/host-mountns.ts removes them at delete).
   */
  hostMountNs?: boolean;
}

// Paths runc masks by default: kernel internals a container has no business reading.
const MASKED = [
  '/proc/acpi', '/proc/asound', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
// ...and paths it makes read-only: writing them would change the whole machine.
const READ_ONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

// The device nodes every container gets: the ones that are harmless to share.
const SAFE_DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

const OVERLAY_DATA_MAX = 4000; // mount(2) data is one page; the lowerdir list must fit in it

/** Step 2: overlayfs. lowerdir lists the TOP layer first, so reverse our lowest-first list. */
export function mountOverlay(plan: Plan, spec: RootfsSpec): void {
  const lower = [...spec.lowerDirs].reverse().join(':');
  // redirect_dir and metacopy off: the upper directory then holds plain files and whiteouts
  // only, what `box diff` and `box commit` (and the OCI layer format) understand. Inside a user
  // namespace (box in a lab sandbox) the kernel refuses these options, and has both off anyway;
  // there it cannot use trusted.* xattrs either, so `userxattr` makes it keep its marks (an
  // opaque directory: rmdir of a directory the image has) in user.overlay.* (Linux 5.11).
  const plain = inInitialUserns() ? ',redirect_dir=off,metacopy=off' : ',userxattr';
  const data = `lowerdir=${lower},upperdir=${spec.upperDir},workdir=${spec.workDir}${plain}`;
  if (data.length > OVERLAY_DATA_MAX) {
    throw new UserError(`the image has too many layers for one overlay mount (${spec.lowerDirs.length}); squash it`);
  }
  plan.mount(null, '/', null, MS_REC | MS_PRIVATE);
  plan.mount('overlay', spec.rootfs, 'overlay', 0, data);
}

/**
 * Volumes. With a user namespace box binds them before creating it: mounts copied into a
 * namespace owned by a less privileged user namespace are locked (MNT_LOCKED), so root in
 * the container can neither unmount them nor remount a read-only one read-write.
 */
export function bindVolumes(plan: Plan, spec: RootfsSpec): void {
  for (const v of spec.volumes) bindVolume(plan, spec, v);
}

/** Steps 3 to 5, run by the container's first process (it must be inside the PID namespace for /proc). */
export function buildRootfs(plan: Plan, spec: RootfsSpec, opts: { newIpcNs: boolean; volumesBound?: boolean }): void {
  const R = spec.rootfs;
  const at = (p: string) => path.join(R, resolveInImage(spec, p));

  // Bind the root onto itself: a mount made in this namespace, which pivot_root accepts. (In
  // a user namespace, mounts copied from the parent namespace are locked and pivot_root into
  // one fails with EINVAL.) Locked mounts below it stay locked in the copy.
  plan.mount(R, R, null, MS_BIND | MS_REC);
  // In the host's namespace, only this bind stops propagation: nothing below it reaches the host's other mounts.
  if (spec.hostMountNs) plan.mount(null, R, null, MS_REC | MS_PRIVATE);
  // An OCI bundle's mounts go in their listed order (the spec's MUST), after box's own /proc,
  // /dev and /sys; box's containers bind volumes first. (With a user namespace they were bound
  // before it, as real root: volumesBound.)
  const listedOrder = !!spec.given && !opts.volumesBound;
  if (!opts.volumesBound && !listedOrder) bindVolumes(plan, spec);

  plan.mkdir(at('/proc'));
  plan.mount('proc', at('/proc'), 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC);

  const dev = at('/dev');
  plan.mkdir(dev);
  plan.mount('tmpfs', dev, 'tmpfs', MS_NOSUID | MS_NOEXEC, 'mode=755,size=65536k');
  const listed = new Set((spec.nodes ?? []).map((n) => n.path));
  for (const name of SAFE_DEVICES.filter((n) => !listed.has(`/dev/${n}`))) bindFile(plan, `/dev/${name}`, `${dev}/${name}`, 0);
  // Each was checked through the Sys before (sys.ts requireDevice) when box run made its
  // cgroup rule, or its node of the container's own under --userns (rootfs/device-node.ts).
  for (const device of spec.devices) {
    bindFile(plan, device, path.join(dev, path.basename(device)), 0);
  }
  plan.mkdir(`${dev}/pts`);
  // A new devpts instance: the container's terminals are its own, not the host's.
  plan.mount('devpts', `${dev}/pts`, 'devpts', MS_NOSUID | MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=0620');
  plan.symlink('pts/ptmx', `${dev}/ptmx`);
  plan.mkdir(`${dev}/shm`);
  plan.mount('shm', `${dev}/shm`, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=1777,size=65536k');
  if (opts.newIpcNs) {
    plan.mkdir(`${dev}/mqueue`);
    plan.mount('mqueue', `${dev}/mqueue`, 'mqueue', MS_NOSUID | MS_NODEV | MS_NOEXEC);
  }
  plan.symlink('/proc/self/fd', `${dev}/fd`);
  plan.symlink('/proc/self/fd/0', `${dev}/stdin`);
  plan.symlink('/proc/self/fd/1', `${dev}/stdout`);
  plan.symlink('/proc/self/fd/2', `${dev}/stderr`);
  for (const node of spec.nodes ?? []) makeNode(plan, dev, node);

  plan.mkdir(at('/sys'));
  plan.mount('sysfs', at('/sys'), 'sysfs', MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);

  const cgroupMounts = spec.cgroupMounts ?? [];
  if (cgroupMounts.length === 1 && cgroupMounts[0].name === '') {
    plan.mount(cgroupMounts[0].host, at('/sys/fs/cgroup'), null, MS_BIND);
  } else if (cgroupMounts.length) {
    plan.mount('tmpfs', at('/sys/fs/cgroup'), 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=755');
    for (const cg of cgroupMounts) {
      plan.mkdir(path.join(at('/sys/fs/cgroup'), cg.name));
      plan.mount(cg.host, path.join(at('/sys/fs/cgroup'), cg.name), null, MS_BIND);
    }
    // Read-only, as systemd mounts it on a v1 host: `mkdir /sys/fs/cgroup/demo` (a v2 habit)
    // must fail, not make a plain directory. The binds below it keep their own flags.
    plan.mount(null, at('/sys/fs/cgroup'), null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
  }
  const mountTmpfs = (t: NonNullable<RootfsSpec['tmpfs']>[number]) => {
    const inside = resolveInImage(spec, t.path);
    plan.mkdirIn(R, inside, 'dir');
    plan.mountIn('tmpfs', R, inside, 'tmpfs', t.flags ?? MS_NOSUID | MS_NODEV, t.options);
  };
  if (listedOrder) {
    const all = [
      ...spec.volumes.map((v) => ({ order: v.order ?? 0, mount: () => bindVolume(plan, spec, v) })),
      ...(spec.tmpfs ?? []).map((t) => ({ order: t.order ?? 0, mount: () => mountTmpfs(t) })),
    ];
    for (const m of all.sort((a, b) => a.order - b.order)) m.mount();
  } else {
    for (const t of spec.tmpfs ?? []) mountTmpfs(t);
  }

  // /proc/sys shows the namespaces of whoever reads it: this process's, the container's.
  for (const [key, value] of Object.entries(spec.sysctl ?? {})) plan.writeFile(path.join(R, '/proc/sys', key.replaceAll('.', '/')), value);

  if (spec.maskPaths) {
    // Deepest first: a path below a masked directory is masked before that directory's empty
    // tmpfs hides it (the other way round, it would no longer exist to mount on).
    const deepestFirst = (ps: string[]) => [...ps].sort((a, b) => b.split('/').length - a.split('/').length);
    for (const p of deepestFirst(spec.maskedPaths ?? MASKED)) {
      const { target, kind } = inContainer(spec, p);
      if (kind === 'file') plan.mount('/dev/null', target, null, MS_BIND);
      else if (kind === 'dir') plan.mount('tmpfs', target, 'tmpfs', MS_RDONLY, 'size=0');
    }
    for (const p of deepestFirst(spec.readonlyPaths ?? READ_ONLY)) {
      const { target, kind } = inContainer(spec, p);
      if (!kind) continue;
      plan.mount(target, target, null, MS_BIND | MS_REC);
      plan.mount(null, target, null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC);
    }
  }

  if (spec.chroot || spec.hostMountNs) {
    // chroot(2) only changes how "/" is resolved for this process. The old root is still
    // mounted and reachable (e.g. through /proc/1/root or a second chroot): not isolation.
    plan.chdir(R).chroot('.').chdir('/');
  } else {
    // pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then
    // detaches the old root, and nothing of the host's tree is left in this namespace.
    plan.chdir(R).pivotRoot('.', '.').umount2('.', MNT_DETACH).chdir('/');
    if (spec.rootPropagation) plan.mount(null, '/', null, spec.rootPropagation);
  }
  if (spec.readOnly) plan.mount(null, '/', null, MS_BIND | MS_REMOUNT | MS_RDONLY);
}

/** Bind a host file or directory onto the container path, read-only if asked. */
function bindVolume(plan: Plan, spec: RootfsSpec, v: Volume): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(v.host);
  } catch {
    throw new UserError(`-v ${v.host}:${v.container}: ${v.host} does not exist on the host; create it first`);
  }
  // The image's own symlinks are followed here (a dangling one gets its target made, as the
  // container would see it); then box-init resolves the path again under the root's fd
  // (openat2 RESOLVE_IN_ROOT), so that a symlink a container left in a volume, or one that
  // changed meanwhile, still cannot lead out of the root.
  const R = spec.rootfs;
  const inside = resolveInImage(spec, v.container);
  plan.mkdirIn(R, inside, st.isDirectory() ? 'dir' : 'file');
  plan.mountIn(v.host, R, inside, null, MS_BIND | (v.recursive === false ? 0 : MS_REC));
  // mount(2) changes one thing at a time: propagation is a call of its own (it takes no other
  // flag), after the bind, as runc does.
  for (const p of v.propagation ?? []) plan.mountIn(null, R, inside, null, p);
  if (v.readOnly || v.flags) {
    // A read-only (or nosuid...) bind is a remount of the bind; flags the source mount has
    // locked (nosuid, nodev, noexec) must be repeated or the kernel refuses (EPERM).
    plan.mountIn(null, R, inside, null, MS_BIND | MS_REMOUNT | (v.readOnly ? MS_RDONLY : 0) | (v.flags ?? 0) | lockedFlags(v.host));
  }
}

/**
 * A node of the config's in the container's /dev (a tmpfs box just mounted, so nothing in it
 * is the image's), with its parent directories. mknod's mode passes through the umask: chmod
 * after it. In a user namespace the kernel refuses mknod of a device (it needs CAP_MKNOD in
 * the initial one): the host's node is bound instead, keeping the host's mode and owner.
 */
function makeNode(plan: Plan, dev: string, node: DeviceNode): void {
  const target = path.join(dev, node.path.slice('/dev/'.length));
  const parents: string[] = [];
  for (let d = path.dirname(target); d !== dev; d = path.dirname(d)) parents.unshift(d);
  for (const d of parents) plan.mkdir(d);
  if (node.bind) return bindFile(plan, node.bind, target, 0);
  plan.mknod(target, node.type, node.mode, node.major, node.minor);
  plan.chmod(target, node.mode);
  plan.lchown(target, node.uid, node.gid);
}

function bindFile(plan: Plan, host: string, target: string, extra: number): void {
  plan.touch(target);
  plan.mount(host, target, null, MS_BIND | extra);
}

/**
 * Where a masked or read-only path is mounted, and what it is (absent paths are skipped, as
 * runc skips them). /proc and /sys are the kernel's, the same as the host's; anything else is
 * the image's, resolved inside it so a symlink cannot aim the mount at the host's tree.
 */
function inContainer(spec: RootfsSpec, p: string): { target: string; kind: 'file' | 'dir' | null } {
  const norm = path.posix.normalize(`/${p}`);
  if (/^\/(proc|sys)(\/|$)/.test(norm)) return { target: path.join(spec.rootfs, norm), kind: hostKind(norm) };
  const inside = resolveInImage(spec, norm);
  const target = path.join(spec.rootfs, inside);
  return { target, kind: spec.given ? hostKind(target) : imageKind(spec, inside) };
}

/** The kind of a path in an image's layers: the topmost layer that has it decides. */
function imageKind(spec: RootfsSpec, inside: string): 'file' | 'dir' | null {
  for (const layer of [spec.upperDir, ...[...spec.lowerDirs].reverse()]) {
    const k = hostKind(path.join(layer, inside));
    if (k) return k;
  }
  return null;
}

function hostKind(p: string): 'file' | 'dir' | null {
  try {
    return fs.statSync(p).isDirectory() ? 'dir' : 'file';
  } catch {
    return null;
  }
}

/** nosuid/nodev/noexec of the host mount that holds `p` (from /proc/self/mountinfo). */
export function lockedFlags(p: string): number {
  const opts = mountHolding(readMountinfo(), fs.realpathSync(p))?.options ?? [];
  return (opts.includes('nosuid') ? MS_NOSUID : 0) | (opts.includes('nodev') ? MS_NODEV : 0) |
    (opts.includes('noexec') ? MS_NOEXEC : 0);
}

/**
 * Resolve a path inside the container's root, following the image's own symlinks as the
 * container would see them (an absolute link points into the container, never the host).
 * Mounts are made before pivot_root, so without this a symlink in an image could aim /proc
 * or /dev at a host path. (Volumes and tmpfs mounts, whose targets users give and whose
 * contents other containers write, are resolved by box-init itself: Plan.mountIn.)
 */
export function resolveInImage(spec: Pick<RootfsSpec, 'lowerDirs' | 'upperDir'>, p: string): string {
  const layers = [spec.upperDir, ...[...spec.lowerDirs].reverse()];
  const parts = p.split('/').filter(Boolean);
  const done: string[] = [];
  let hops = 0;
  while (parts.length) {
    const part = parts.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop(); // ".." at the root stays at the root, as the kernel does
      continue;
    }
    const rel = path.join(...done, part);
    let link: string | null = null;
    for (const layer of layers) {
      try {
        const st = fs.lstatSync(path.join(layer, rel));
        if (st.isSymbolicLink()) link = fs.readlinkSync(path.join(layer, rel));
        break; // the topmost layer that has it decides
      } catch {
        /* not in this layer */
      }
    }
    if (link !== null) {
      if (++hops > 40) throw new UserError(`${p}: too many levels of symbolic links in the image`);
      if (link.startsWith('/')) done.length = 0;
      parts.unshift(...link.split('/').filter(Boolean));
    } else {
      done.push(part);
    }
  }
  return '/' + done.join('/');
}
