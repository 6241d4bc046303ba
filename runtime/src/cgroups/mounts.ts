// Where the cgroup filesystems are, and where this process sits in them. Both come from
// the kernel's own files: /proc/self/mountinfo says what is mounted where and of which
// type (a directory named "memory" proves nothing), /proc/self/cgroup says our cgroup.

import path from 'node:path';
import { parseMountinfo as parseMountTable, type MountEntry } from '../sys/mountinfo.ts';

/** The controllers a cgroup v1 mount can carry (anything else in its options is a flag). */
const V1_CONTROLLERS = new Set([
  'cpuset', 'cpu', 'cpuacct', 'blkio', 'io', 'memory', 'devices', 'freezer',
  'net_cls', 'net_prio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc',
]);

/** One mounted cgroup hierarchy. */
export interface CgroupMount {
  version: 1 | 2;
  /** Where it is mounted, e.g. /sys/fs/cgroup/memory. */
  mountpoint: string;
  /** Which cgroup of the hierarchy appears at the mountpoint ("/" unless a subtree was bind-mounted). */
  root: string;
  /** v1: the controllers bound to this hierarchy ("cpu", "cpuacct" or both). v2: empty (see cgroup.controllers). */
  controllers: string[];
}

/**
 * The cgroup mounts among a mount table (sys/mountinfo.ts). A v1 line reads
 * `35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory`: its super
 * options name the controllers bound to the hierarchy.
 */
export function cgroupMounts(table: MountEntry[]): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const { fstype, root, mountpoint, superOptions } of table) {
    if (fstype === 'cgroup2') {
      mounts.push({ version: 2, mountpoint, root, controllers: [] });
    } else if (fstype === 'cgroup') {
      const controllers = superOptions.filter((o) => V1_CONTROLLERS.has(o));
      // A named hierarchy with no controller (name=systemd) is systemd's bookkeeping, not a limit.
      if (controllers.length > 0) mounts.push({ version: 1, mountpoint, root, controllers });
    }
  }
  return mounts;
}

/** The cgroup mounts listed in a /proc/self/mountinfo text. */
export function parseMountinfo(text: string): CgroupMount[] {
  return cgroupMounts(parseMountTable(text));
}

/**
 * Our cgroup in each hierarchy, from a /proc/self/cgroup text. Lines read
 * `4:memory:/user.slice` (v1; "cpu,cpuacct" when co-mounted) and `0::/user.slice` (v2).
 * Returns a map from controller name, or "" for v2, to the path.
 */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, id, list, cgPath] = m;
    if (id === '0' && list === '') paths.set('', cgPath!);
    else for (const c of list!.split(',')) if (c) paths.set(c, cgPath!);
  }
  return paths;
}

/**
 * The directory of cgroup `cgPath` as seen through a mount, or null if the mount does not
 * show it. Inside a container the mount's root is often a subtree (`/docker/abc`), and inside
 * a cgroup namespace our path reads `/`, or `/../..` when we are outside the namespace's root.
 */
export function dirOf(mount: CgroupMount, cgPath: string): string | null {
  if (cgPath.split('/').includes('..')) return null;
  const root = mount.root === '/' ? '' : mount.root;
  if (root && cgPath !== root && !cgPath.startsWith(root + '/')) return null;
  return path.resolve(mount.mountpoint, '.' + cgPath.slice(root.length));
}

/** Mounts at or directly under `top` (e.g. /sys/fs/cgroup), keeping the first of any duplicate. */
export function mountsUnder(mounts: CgroupMount[], top: string): CgroupMount[] {
  const norm = path.resolve(top);
  const seen = new Set<string>();
  return mounts.filter((m) => {
    if (m.mountpoint !== norm && path.dirname(m.mountpoint) !== norm) return false;
    const key = m.version === 2 ? 'v2' : [...m.controllers].sort().join(',');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
