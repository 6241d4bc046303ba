// /proc/PID/mountinfo, read once and the same way everywhere (man 5 proc). A line reads
//   36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   id parent dev root mountpoint options [optional fields...] - fstype source super-options
// The optional fields vary in number, so the fields after them are found from the "-".
// Paths escape space, tab, newline and backslash as \040, \011, \012, \134.

import fs from 'node:fs';

export interface MountEntry {
  id: number;
  parent: number;
  /** The directory of the filesystem that appears at the mount point ("/" unless a subtree was bind-mounted). */
  root: string;
  mountpoint: string;
  /** Per-mount options: rw/ro, nosuid, nodev, noexec, relatime... */
  options: string[];
  fstype: string;
  source: string;
  /** Per-filesystem options: for a cgroup v1 mount, its controllers. */
  superOptions: string[];
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    const dash = f.indexOf('-');
    if (dash < 6) continue;
    mounts.push({
      id: Number(f[0]), parent: Number(f[1]), root: unescape(f[3]!), mountpoint: unescape(f[4]!),
      options: f[5]!.split(','), fstype: f[dash + 1] ?? '', source: unescape(f[dash + 2] ?? ''),
      superOptions: (f[dash + 3] ?? '').split(',').filter(Boolean),
    });
  }
  return mounts;
}

export function readMountinfo(file = '/proc/self/mountinfo'): MountEntry[] {
  return parseMountinfo(fs.readFileSync(file, 'utf8'));
}

/** The mount that holds `p` (a real path: no symlinks): the last one, of the longest mount point, that contains it. */
export function mountHolding(mounts: MountEntry[], p: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const inside = p === m.mountpoint || p.startsWith(m.mountpoint === '/' ? '/' : `${m.mountpoint}/`);
    if (inside && m.mountpoint.length >= (best?.mountpoint.length ?? 0)) best = m;
  }
  return best;
}
