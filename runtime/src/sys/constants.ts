// Kernel constants box uses, with the values from the Linux UAPI headers (x86_64).
// Each group names the header it comes from, so a reader can look them up.

// <linux/sched.h>: namespace flags for clone(2), unshare(2) and setns(2).
export const CLONE_NEWTIME = 0x00000080;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

/** The eight namespaces, by the name /proc/PID/ns uses for each. */
export const NAMESPACES = {
  mnt: CLONE_NEWNS,
  pid: CLONE_NEWPID,
  net: CLONE_NEWNET,
  ipc: CLONE_NEWIPC,
  uts: CLONE_NEWUTS,
  user: CLONE_NEWUSER,
  cgroup: CLONE_NEWCGROUP,
  time: CLONE_NEWTIME,
} as const;
export type NamespaceName = keyof typeof NAMESPACES;

export function cloneFlagNames(flags: number): string {
  const names = Object.entries(NAMESPACES)
    .filter(([, bit]) => (flags & bit) !== 0)
    .map(([name]) => `CLONE_NEW${name === 'mnt' ? 'NS' : name.toUpperCase()}`);
  return names.length ? names.join('|') : '0';
}

// <linux/mount.h>: mount(2) flags.
export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_REMOUNT = 0x20;
export const MS_NOATIME = 0x400;
export const MS_BIND = 0x1000;
export const MS_MOVE = 0x2000;
export const MS_REC = 0x4000;
export const MS_UNBINDABLE = 0x20000;
export const MS_PRIVATE = 0x40000;
export const MS_SLAVE = 0x80000;
export const MS_SHARED = 0x100000;
export const MS_STRICTATIME = 0x1000000;

const MS_NAMES: [number, string][] = [
  [MS_RDONLY, 'MS_RDONLY'], [MS_NOSUID, 'MS_NOSUID'], [MS_NODEV, 'MS_NODEV'], [MS_NOEXEC, 'MS_NOEXEC'],
  [MS_REMOUNT, 'MS_REMOUNT'], [MS_NOATIME, 'MS_NOATIME'], [MS_BIND, 'MS_BIND'], [MS_MOVE, 'MS_MOVE'],
  [MS_REC, 'MS_REC'], [MS_UNBINDABLE, 'MS_UNBINDABLE'], [MS_PRIVATE, 'MS_PRIVATE'], [MS_SLAVE, 'MS_SLAVE'],
  [MS_SHARED, 'MS_SHARED'], [MS_STRICTATIME, 'MS_STRICTATIME'],
];
export function mountFlagNames(flags: number): string {
  const names = MS_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, n]) => n);
  return names.length ? names.join('|') : '0';
}

// umount2(2) flags.
export const MNT_DETACH = 0x2;

// <fcntl.h>
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_DIRECTORY = 0o200000;
export const O_CLOEXEC = 0o2000000;

// <signal.h>
export const SIGKILL = 9;
export const SIGTERM = 15;

// <sys/prctl.h>
export const PR_SET_PDEATHSIG = 1;
export const PR_SET_KEEPCAPS = 8;
export const PR_SET_NO_NEW_PRIVS = 38;
